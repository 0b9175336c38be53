//! The errors a client can see, and the one place that decides their SQLSTATE.
//!
//! Everything that reaches a client goes through [`UserError`]: a [`SqlState`], a severity and a
//! message written for the client. Errors from below are classified here, in this order:
//!
//! ```text
//!  DataFusionError ─┬─ External(UserError)          our own error, carried through the engine
//!                   ├─ External(DataFusionError|ArrowError) / Context / Shared / Collection: unwrap
//!                   ├─ by variant: SQL, SchemaError, NotImplemented, ResourcesExhausted,
//!                   │   Configuration, ArrowError(DivideByZero | Cast | Parse | Overflow)
//!                   └─ Plan / Execution text: last resort, for the few engine errors that have
//!                      no variant of their own (an unknown function, a failed cast at runtime)
//! ```
//!
//! Anything unclassified becomes XX000 whose message carries only an id; the full text goes to
//! the log under that id, so object-store URLs, file paths and library internals never leave
//! the server.

use std::fmt;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use pgwire::messages::response::ErrorResponse;

/// Declares [`SqlState`] and its codes from one list, so a state and its code cannot part.
macro_rules! sql_states {
    ($($state:ident => $code:literal,)*) => {
        /// The SQLSTATEs meshgate raises (PostgreSQL, appendix A). A variant, not a string: a
        /// code can only be one PostgreSQL defines and this list names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum SqlState {
            $($state,)*
        }

        impl SqlState {
            /// The five characters clients see.
            pub fn code(self) -> &'static str {
                match self {
                    $(SqlState::$state => $code,)*
                }
            }

            /// The state a five-character code names, when this list has it (a remote
            /// engine's error is passed on with its own code).
            pub fn from_code(code: &str) -> Option<SqlState> {
                match code {
                    $($code => Some(SqlState::$state),)*
                    _ => None,
                }
            }
        }
    };
}

sql_states! {
    SuccessfulCompletion => "00000",
    Warning => "01000",
    NoActiveTransaction => "25P01",
    ActiveTransaction => "25001",
    InFailedTransaction => "25P02",
    IdleInTransactionTimeout => "25P03",
    InvalidTransactionState => "25000",
    ReadOnlySqlTransaction => "25006",
    SerializationFailure => "40001",
    SyntaxError => "42601",
    UndefinedTable => "42P01",
    UndefinedColumn => "42703",
    UndefinedFunction => "42883",
    UndefinedObject => "42704",
    UndefinedSchema => "3F000",
    AmbiguousColumn => "42702",
    DatatypeMismatch => "42804",
    WrongObjectType => "42809",
    InsufficientPrivilege => "42501",
    DuplicateTable => "42P07",
    DuplicateCursor => "42P03",
    DuplicatePreparedStatement => "42P05",
    InvalidTableDefinition => "42P16",
    InvalidObjectDefinition => "42P17",
    InvalidRecursion => "42P19",
    DependentObjectsStillExist => "2BP01",
    DivisionByZero => "22012",
    GroupingError => "42803",
    InvalidColumnReference => "42P10",
    InvalidDatetimeFormat => "22007",
    DatetimeFieldOverflow => "22008",
    CardinalityViolation => "21000",
    InvalidTextRepresentation => "22P02",
    NumericValueOutOfRange => "22003",
    InvalidParameterValue => "22023",
    FeatureNotSupported => "0A000",
    DuplicateAlias => "42712",
    InvalidArgumentForNthValue => "22016",
    ObjectNotInPrerequisiteState => "55000",
    CantChangeRuntimeParam => "55P02",
    QueryCanceled => "57014",
    AdminShutdown => "57P01",
    IdleSessionTimeout => "57P05",
    InvalidPassword => "28P01",
    InvalidAuthorization => "28000",
    TooManyConnections => "53300",
    OutOfMemory => "53200",
    ProtocolViolation => "08P01",
    ConnectionFailure => "08006",
    SqlclientUnableToEstablishSqlconnection => "08001",
    ProgramLimitExceeded => "54000",
    StatementTooComplex => "54001",
    SubstringError => "22011",
    InvalidArgumentForNtile => "22014",
    InvalidCursorName => "34000",
    InvalidSqlStatementName => "26000",
    InvalidCatalogName => "3D000",
    IoError => "58030",
    InternalError => "XX000",
    InvalidRegularExpression => "2201B",
    InvalidArgumentForLogarithm => "2201E",
    InvalidArgumentForPowerFunction => "2201F",
    InvalidArgumentForWidthBucket => "2201G",
    NullValueNotAllowed => "22004",
    UntranslatableCharacter => "22P05",
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
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
    pub code: SqlState,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// Where in the text the client sent the error was found: a character index, 1-based, as
    /// PostgreSQL's `P` field (psql draws its caret with it).
    pub position: Option<usize>,
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for UserError {}

/// An error of the front end's tree steps (meshgate-sqlfront), by its code.
impl From<meshgate_sqlfront::FrontError> for UserError {
    fn from(e: meshgate_sqlfront::FrontError) -> Self {
        let code = match e.code {
            meshgate_sqlfront::Code::UndefinedTable => SqlState::UndefinedTable,
            meshgate_sqlfront::Code::InvalidArgumentForNthValue => {
                SqlState::InvalidArgumentForNthValue
            }
            meshgate_sqlfront::Code::FeatureNotSupported => SqlState::FeatureNotSupported,
        };
        Self::new(code, e.message)
    }
}

impl UserError {
    pub fn new(code: SqlState, message: impl Into<String>) -> Self {
        UserError {
            severity: Severity::Error,
            code,
            message: message.into(),
            detail: None,
            hint: None,
            position: None,
        }
    }

    pub fn fatal(code: SqlState, message: impl Into<String>) -> Self {
        UserError {
            severity: Severity::Fatal,
            ..Self::new(code, message)
        }
    }

    /// The same error, ending the connection.
    pub fn into_fatal(self) -> Self {
        UserError {
            severity: Severity::Fatal,
            ..self
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn syntax(message: impl Into<String>) -> Self {
        Self::new(SqlState::SyntaxError, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(SqlState::FeatureNotSupported, message)
    }

    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(SqlState::InsufficientPrivilege, message)
    }

    pub fn cancelled() -> Self {
        Self::new(
            SqlState::QueryCanceled,
            "canceling statement due to user request",
        )
    }

    pub fn statement_timeout() -> Self {
        Self::new(
            SqlState::QueryCanceled,
            "canceling statement due to statement timeout",
        )
    }

    /// What a session ended by `pg_terminate_backend`, or by a draining server, gets.
    pub fn terminated() -> Self {
        Self::fatal(
            SqlState::AdminShutdown,
            "terminating connection due to administrator command",
        )
    }

    /// PostgreSQL's 25P02: a failed transaction block takes only COMMIT or ROLLBACK.
    pub fn in_failed_transaction() -> Self {
        Self::new(
            SqlState::InFailedTransaction,
            "current transaction is aborted, commands ignored until end of transaction block",
        )
    }

    /// An error whose text must not reach the client: logged in full under a fresh id, and the
    /// client gets only the id.
    pub fn internal(context: &str, err: &dyn fmt::Display) -> Self {
        let id = error_id();
        tracing::error!(error_id = %id, "{context}: {err}");
        Self::new(
            SqlState::InternalError,
            format!("internal error (id {id}); the server log has details"),
        )
    }

    /// An engine error about a statement's values that meshgate does not recognise: most likely
    /// the user's (a function's argument), so it is logged at WARN, below server faults (I/O,
    /// storage, the engine's internal errors: ERROR); the client gets only the id, as with
    /// [`UserError::internal`], since the text may name storage.
    pub fn unclassified(context: &str, err: &dyn fmt::Display) -> Self {
        let id = error_id();
        tracing::warn!(error_id = %id, "{context}: {err}");
        Self::new(
            SqlState::InternalError,
            format!("internal error (id {id}); the server log has details"),
        )
    }

    /// Carried through DataFusion (a table provider, a function) and recognised again by
    /// [`UserError::from_datafusion`].
    pub fn into_datafusion(self) -> DataFusionError {
        DataFusionError::External(Box::new(self))
    }

    pub fn to_response(&self) -> ErrorResponse {
        let severity = match self.severity {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        };
        let mut fields = vec![
            (b'S', severity.to_string()),
            (b'V', severity.to_string()),
            (b'C', self.code.code().to_string()),
            (b'M', self.message.clone()),
        ];
        if let Some(d) = &self.detail {
            fields.push((b'D', d.clone()));
        }
        if let Some(h) = &self.hint {
            fields.push((b'H', h.clone()));
        }
        if let Some(p) = self.position {
            fields.push((b'P', p.to_string()));
        }
        ErrorResponse::new(fields)
    }

    pub fn from_parser(e: &ParserError) -> Self {
        let text = match e {
            ParserError::ParserError(s) | ParserError::TokenizerError(s) => s.clone(),
            ParserError::RecursionLimitExceeded => {
                return Self::new(
                    SqlState::StatementTooComplex,
                    format!(
                        "statement is too deeply nested: at most {} levels of brackets, {} of them function calls or subqueries in expressions",
                        meshgate_sqlfront::parse::NESTING_LIMIT,
                        meshgate_sqlfront::parse::CALL_NESTING_LIMIT
                    ),
                )
            }
        };
        Self::syntax(format!("syntax error: {text}"))
    }

    /// Classifies an engine error. Plan-time messages are produced by DataFusion from the user's
    /// own SQL and name only user-visible objects, so they are passed on; execution-time errors
    /// can carry storage paths and are passed on only for the classes known to be value errors.
    pub fn from_datafusion(e: &DataFusionError) -> Self {
        use SqlState::*;
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
                    S::FieldNotFound { .. } => UndefinedColumn,
                    S::AmbiguousReference { .. } => AmbiguousColumn,
                    // One table (or alias) twice in FROM.
                    S::DuplicateQualifiedField { qualifier, .. } => {
                        return Self::new(
                            DuplicateAlias,
                            format!(
                                "table name \"{}\" specified more than once",
                                qualifier.table()
                            ),
                        )
                    }
                    _ => SyntaxError,
                };
                Self::new(code, clean(&s.to_string()))
            }
            // `count(count(*))` reaches the physical planner.
            DataFusionError::NotImplemented(m)
                if m.contains("does not support logical expression AggregateFunction") =>
            {
                Self::new(GroupingError, "aggregate function calls cannot be nested")
            }
            DataFusionError::NotImplemented(m) => {
                Self::unsupported(format!("not supported: {}", clean(m)))
            }
            DataFusionError::Configuration(m) => Self::new(InvalidParameterValue, clean(m)),
            DataFusionError::ResourcesExhausted(m) => Self::new(
                OutOfMemory,
                format!("query exceeded its memory limit: {}", clean(m)),
            ),
            DataFusionError::External(inner) => Self::from_external(inner.as_ref(), e),
            DataFusionError::Plan(m) => text::plan(m),
            DataFusionError::Execution(m) => text::execution(m, e),
            // A predicate evaluated inside the Parquet reader (filter pushdown) fails there, and
            // its error comes back wrapped as the reader's: a division by zero is still 22012.
            DataFusionError::ParquetError(p) => match p.as_ref() {
                datafusion::parquet::errors::ParquetError::External(inner) => {
                    Self::from_external(inner.as_ref(), e)
                }
                _ => Self::internal("engine error", e),
            },
            _ => Self::internal("engine error", e),
        }
    }

    /// Whether a running plan failed on a storage file that is not there (a data file a table
    /// version lists, deleted since the version was opened).
    pub fn is_missing_file(e: &(dyn std::error::Error + 'static)) -> bool {
        let mut next = Some(e);
        while let Some(e) = next {
            if let Some(o) = e.downcast_ref::<object_store::Error>() {
                if matches!(o, object_store::Error::NotFound { .. }) {
                    return true;
                }
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::NotFound {
                    return true;
                }
            }
            // DataFusion's own wrappers do not all report what they wrap as their source.
            if let Some(d) = e.downcast_ref::<DataFusionError>() {
                let inner: Option<&(dyn std::error::Error + 'static)> = match d {
                    DataFusionError::ObjectStore(o) => Some(o.as_ref()),
                    DataFusionError::IoError(io) => Some(io),
                    DataFusionError::External(x) => Some(x.as_ref()),
                    DataFusionError::Context(_, x) | DataFusionError::Diagnostic(_, x) => {
                        Some(x.as_ref())
                    }
                    DataFusionError::Shared(x) => Some(x.as_ref()),
                    DataFusionError::ParquetError(p) => Some(p.as_ref()),
                    DataFusionError::ArrowError(a, _) => Some(a.as_ref()),
                    DataFusionError::Collection(v) => v.first().map(|x| x as _),
                    _ => None,
                };
                if let Some(inner) = inner {
                    if Self::is_missing_file(inner) {
                        return true;
                    }
                }
            }
            if let Some(datafusion::parquet::errors::ParquetError::External(x)) =
                e.downcast_ref::<datafusion::parquet::errors::ParquetError>()
            {
                if Self::is_missing_file(x.as_ref()) {
                    return true;
                }
            }
            if let Some(ArrowError::ExternalError(x)) = e.downcast_ref::<ArrowError>() {
                if Self::is_missing_file(x.as_ref()) {
                    return true;
                }
            }
            next = e.source();
        }
        false
    }

    fn from_external(
        inner: &(dyn std::error::Error + Send + Sync + 'static),
        whole: &dyn fmt::Display,
    ) -> Self {
        if let Some(u) = inner.downcast_ref::<UserError>() {
            return u.clone();
        }
        if let Some(s) = inner.downcast_ref::<meshgate_connectors::SourceUnavailable>() {
            return unavailable(s);
        }
        if let Some(r) = inner.downcast_ref::<meshgate_connectors::RemoteError>() {
            // Its SQLSTATE when meshgate knows it: the message is what the client needs (a
            // peer gateway's residency refusal, say).
            let code = SqlState::from_code(&r.code).unwrap_or(SqlState::InternalError);
            return Self::new(code, r.to_string());
        }
        if let Some(f) = inner.downcast_ref::<meshgate_functions::FunctionError>() {
            return Self::from_function(f, whole);
        }
        if let Some(d) = inner.downcast_ref::<DataFusionError>() {
            return Self::from_datafusion(d);
        }
        if let Some(a) = inner.downcast_ref::<ArrowError>() {
            return Self::from_arrow(a);
        }
        Self::internal("external error", whole)
    }

    /// A PostgreSQL function's value error (meshgate-functions): its own SQLSTATE and message.
    fn from_function(f: &meshgate_functions::FunctionError, whole: &dyn fmt::Display) -> Self {
        use SqlState::*;
        let known = [
            InvalidDatetimeFormat,
            DatetimeFieldOverflow,
            InvalidRegularExpression,
            InvalidArgumentForLogarithm,
            InvalidArgumentForPowerFunction,
            InvalidArgumentForWidthBucket,
            NullValueNotAllowed,
            NumericValueOutOfRange,
            DivisionByZero,
            InvalidParameterValue,
            InvalidTextRepresentation,
            FeatureNotSupported,
            UndefinedFunction,
            SyntaxError,
            UntranslatableCharacter,
            StatementTooComplex,
            ProgramLimitExceeded,
        ];
        match known.into_iter().find(|s| s.code() == f.sqlstate) {
            Some(code) => Self::new(code, f.message.clone()),
            None => Self::internal("function error", whole),
        }
    }

    fn from_arrow(a: &ArrowError) -> Self {
        use SqlState::*;
        match a {
            ArrowError::DivideByZero => Self::new(DivisionByZero, "division by zero"),
            ArrowError::CastError(m) | ArrowError::ParseError(m) => text::cast(m),
            ArrowError::InvalidArgumentError(m) if m.contains("too large to store") => {
                Self::new(NumericValueOutOfRange, "numeric field overflow")
            }
            ArrowError::ArithmeticOverflow(m) => Self::new(NumericValueOutOfRange, clean(m)),
            ArrowError::ComputeError(m) if m.contains("Overflow") || m.contains("overflow") => {
                Self::new(NumericValueOutOfRange, clean(m))
            }
            ArrowError::ExternalError(inner) => Self::from_external(inner.as_ref(), a),
            _ => Self::internal("arrow error", a),
        }
    }
}

/// The last resort: DataFusion raises some errors as `Plan` or `Execution` with nothing but
/// text (an unknown function or table, a failed runtime cast). Names that meshgate resolves
/// itself (tables, schemas) are refused before DataFusion sees them (see `sql::names`), so what
/// is matched here is what the engine alone decides.
mod text {
    use super::{clean, SqlState, UserError};

    pub(super) fn plan(m: &str) -> UserError {
        use SqlState::*;
        let m = clean(m);
        let lower = m.to_ascii_lowercase();
        let code = if lower.contains("table '") && lower.contains("not found")
            || lower.starts_with("table not found")
        {
            UndefinedTable
        } else if lower.contains("no field named")
            || lower.contains("column") && lower.contains("not found")
        {
            UndefinedColumn
        } else if lower.contains("invalid function") || lower.contains("no function matches") {
            UndefinedFunction
        } else if lower.contains("schema") && lower.contains("not found") {
            UndefinedSchema
        } else if lower.contains("must appear in the group by clause")
            || lower.contains("must be in group by")
            || lower.contains("aggregate functions are not allowed")
        {
            GroupingError
        } else if lower.contains("order by column out of bounds") {
            InvalidColumnReference
        } else if lower.contains("cannot coerce arithmetic expression") {
            // PostgreSQL's "operator does not exist: date + date".
            UndefinedFunction
        } else if lower.contains("percentile value must be between") {
            NumericValueOutOfRange
        } else if lower.contains("step cannot be zero") {
            // The engine's generate_series checks its constant step while planning.
            InvalidParameterValue
        } else if lower.contains("cannot be cast") || lower.contains("cannot cast") {
            DatatypeMismatch
        } else if lower.contains("ambiguous") {
            AmbiguousColumn
        } else if lower.contains("unsupported") || lower.contains("not supported") {
            FeatureNotSupported
        } else {
            SyntaxError
        };
        let message = match code {
            UndefinedTable => missing_table(&m).unwrap_or(m),
            InvalidParameterValue => "step size cannot equal zero".into(),
            _ => m,
        };
        UserError::new(code, message)
    }

    pub(super) fn execution(m: &str, whole: &dyn std::fmt::Display) -> UserError {
        use SqlState::*;
        let lower = m.to_ascii_lowercase();
        if lower.contains("divide by zero") || lower.contains("division by zero") {
            UserError::new(DivisionByZero, "division by zero")
        } else if lower.contains("cannot cast")
            || lower.contains("cast error")
            || lower.contains("can't parse")
            || lower.contains("can't cast")
        {
            cast(m)
        } else if lower.contains("overflow") {
            UserError::new(NumericValueOutOfRange, clean(m))
        } else if lower.contains("negative substring length not allowed") {
            UserError::new(SubstringError, "negative substring length not allowed")
        } else if lower.contains("ntile requires a positive integer") {
            UserError::new(
                InvalidArgumentForNtile,
                "argument of ntile must be greater than zero",
            )
        } else if lower.contains("step can't be 0") {
            UserError::new(InvalidParameterValue, "step size cannot equal zero")
        } else if lower.starts_with("invalid unicode scalar value") {
            UserError::new(InvalidParameterValue, clean(m))
        } else {
            UserError::unclassified("execution error", whole)
        }
    }

    /// A value that did not convert: out of range (22003), a date or time that does not exist
    /// (22008) or cannot be read as one (22007), else invalid text (22P02), as PostgreSQL
    /// tells them apart. Arrow says only "cannot cast"; the value and target type decide.
    pub(super) fn cast(m: &str) -> UserError {
        use SqlState::*;
        let m = clean(m);
        let lower = m.to_ascii_lowercase();
        let value = m
            .split_once('\'')
            .and_then(|(_, rest)| rest.split_once('\''))
            .map(|(v, _)| v.trim())
            .unwrap_or("");
        let digits = value.trim_start_matches(['-', '+']);
        let integer_text = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        let datetime_text = !value.is_empty()
            && value.bytes().any(|b| b.is_ascii_digit())
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || b" -:.+T".contains(&b));
        let target_integer = lower.contains(" int") || lower.contains("uint");
        let target_datetime = ["date32", "date64", "timestamp", "time32", "time64"]
            .iter()
            .any(|t| lower.contains(t));
        let code = if lower.starts_with("can't cast value")
            || lower.contains("out of range")
            || target_integer && integer_text
        {
            NumericValueOutOfRange
        } else if target_datetime && datetime_text {
            DatetimeFieldOverflow
        } else if target_datetime
            || lower.contains("parsing timestamp")
            || lower.contains("for type interval")
        {
            InvalidDatetimeFormat
        } else {
            InvalidTextRepresentation
        };
        UserError::new(code, format!("invalid input value: {m}"))
    }

    /// `table 'mesh.sales.nope' not found` → `relation "sales.nope" does not exist`
    /// (PostgreSQL's words, which clients and people recognise).
    fn missing_table(m: &str) -> Option<String> {
        let start = m.find('\'')? + 1;
        let end = start + m[start..].find('\'')?;
        // A table read at a version is named as the table (see meshgate_sqlfront::versions).
        let name = meshgate_sqlfront::versions::split(&m[start..end]).0;
        let parts: Vec<&str> = name.split('.').collect();
        let shown = if parts.len() == 3 {
            format!("{}.{}", parts[1], parts[2])
        } else {
            name.to_string()
        };
        Some(format!("relation \"{shown}\" does not exist"))
    }
}

/// DataFusion prefixes and backtraces are noise to a psql user.
fn clean(m: &str) -> String {
    let m = m.split("\n\nbacktrace").next().unwrap_or(m);
    m.trim().to_string()
}

/// A short random id that ties a client-visible message to a log line.
pub fn error_id() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{:012x}", n & 0xffff_ffff_ffff)
}

/// A query needed an operational source that could not be reached: 08001 when no connection
/// could be made, 08006 when one broke. The text names the source, never its credentials.
pub fn unavailable(s: &meshgate_connectors::SourceUnavailable) -> UserError {
    let code = match s.kind {
        meshgate_connectors::Unreachable::Connect => {
            SqlState::SqlclientUnableToEstablishSqlconnection
        }
        meshgate_connectors::Unreachable::Lost => SqlState::ConnectionFailure,
    };
    // The operator learns of an outage from the log too; the text holds no credentials.
    tracing::warn!(source = %s.source, "{s}");
    UserError::new(code, s.to_string())
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
                DataFusionError::ParquetError(Box::new(
                    datafusion::parquet::errors::ParquetError::from(ArrowError::DivideByZero),
                )),
                "22012",
            ),
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
            // PostgreSQL's codes for the same inputs: '99999999999'::int, '2024-02-30'::date,
            // 'not a date'::timestamp, 32768::int2.
            (
                DataFusionError::ArrowError(
                    Box::new(ArrowError::CastError(
                        "Cannot cast string '99999999999' to value of Int32 type".into(),
                    )),
                    None,
                ),
                "22003",
            ),
            (
                DataFusionError::ArrowError(
                    Box::new(ArrowError::CastError(
                        "Cannot cast string '2024-02-30' to value of Date32 type".into(),
                    )),
                    None,
                ),
                "22008",
            ),
            (
                DataFusionError::ArrowError(
                    Box::new(ArrowError::CastError(
                        "Error parsing timestamp from 'not a date': error parsing date".into(),
                    )),
                    None,
                ),
                "22007",
            ),
            (
                DataFusionError::Execution("Can't cast value 32768 to type Int16".into()),
                "22003",
            ),
            (
                DataFusionError::Plan(
                    "Column in SELECT must be in GROUP BY or an aggregate function: x".into(),
                ),
                "42803",
            ),
            (
                DataFusionError::Plan("Order by column out of bounds, specified: 5, max: 1".into()),
                "42P10",
            ),
            (
                UserError::denied("permission denied for table sales.orders").into_datafusion(),
                "42501",
            ),
            (
                DataFusionError::Context(
                    "while planning".into(),
                    Box::new(UserError::new(SqlState::UndefinedTable, "x").into_datafusion()),
                ),
                "42P01",
            ),
        ];
        for (e, code) in cases {
            assert_eq!(UserError::from_datafusion(&e).code.code(), code, "{e}");
        }
        let e = UserError::from_datafusion(&DataFusionError::Plan(
            "table 'mesh.sales.nope' not found".into(),
        ));
        assert_eq!(e.message, "relation \"sales.nope\" does not exist");
    }

    #[test]
    fn function_errors_keep_their_sqlstate() {
        for code in meshgate_functions::error::ALL_SQLSTATES {
            let e: DataFusionError = meshgate_functions::FunctionError::new(code, "x").into();
            assert_eq!(UserError::from_datafusion(&e).code.code(), *code);
            let wrapped =
                DataFusionError::ArrowError(Box::new(ArrowError::ExternalError(Box::new(e))), None);
            assert_eq!(UserError::from_datafusion(&wrapped).code.code(), *code);
        }
    }

    #[test]
    fn internal_errors_hide_their_text() {
        let e = UserError::from_datafusion(&DataFusionError::Internal(
            "s3://secret-bucket/path?X-Amz-Credential=AKIA".into(),
        ));
        assert_eq!(e.code, SqlState::InternalError);
        assert!(
            !e.message.contains("secret-bucket") && !e.message.contains("AKIA"),
            "{}",
            e.message
        );
    }

    /// The level each error is logged at, from a subscriber that records them.
    fn logged_level(e: &DataFusionError) -> Vec<tracing::Level> {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Levels(Arc<Mutex<Vec<tracing::Level>>>);
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Levels {
            fn on_event(
                &self,
                event: &tracing::Event<'_>,
                _: tracing_subscriber::layer::Context<'_, S>,
            ) {
                self.0.lock().unwrap().push(*event.metadata().level());
            }
        }
        let levels = Levels::default();
        let subscriber = tracing_subscriber::layer::SubscriberExt::with(
            tracing_subscriber::registry(),
            levels.clone(),
        );
        tracing::subscriber::with_default(subscriber, || UserError::from_datafusion(e));
        let out = levels.0.lock().unwrap().clone();
        out
    }

    #[test]
    fn users_errors_are_logged_below_server_faults() {
        // A function refusing a value meshgate does not recognise: the user's, most likely.
        let value = DataFusionError::Execution("requested thing out of bounds".into());
        assert_eq!(logged_level(&value), vec![tracing::Level::WARN]);
        assert_eq!(UserError::from_datafusion(&value).code.code(), "XX000");
        // The engine's own fault, and storage: ERROR.
        let bug = DataFusionError::Internal("invariant broken".into());
        assert_eq!(logged_level(&bug), vec![tracing::Level::ERROR]);
        let io = DataFusionError::IoError(std::io::Error::other("disk gone"));
        assert_eq!(logged_level(&io), vec![tracing::Level::ERROR]);
        // Recognised value errors are the client's answer, not logged at all.
        let ntile = DataFusionError::Execution("NTILE requires a positive integer".into());
        assert!(logged_level(&ntile).is_empty());
        assert_eq!(UserError::from_datafusion(&ntile).code.code(), "22014");
    }
}
