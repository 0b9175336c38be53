//! Errors a function raises, with the SQLSTATE PostgreSQL raises for the same input.
//!
//! They travel through DataFusion as `DataFusionError::External`; meshgate's error module
//! recognises them by downcast and gives the client the code.

use std::fmt;

use datafusion::error::DataFusionError;

pub const INVALID_DATETIME_FORMAT: &str = "22007";
pub const DATETIME_FIELD_OVERFLOW: &str = "22008";
pub const INVALID_REGULAR_EXPRESSION: &str = "2201B";
pub const INVALID_ARGUMENT_FOR_LOGARITHM: &str = "2201E";
pub const INVALID_ARGUMENT_FOR_POWER_FUNCTION: &str = "2201F";
pub const INVALID_ARGUMENT_FOR_WIDTH_BUCKET: &str = "2201G";
pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
pub const DIVISION_BY_ZERO: &str = "22012";
pub const INVALID_PARAMETER_VALUE: &str = "22023";
pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
pub const UNDEFINED_FUNCTION: &str = "42883";
pub const SYNTAX_ERROR: &str = "42601";
pub const NULL_VALUE_NOT_ALLOWED: &str = "22004";
pub const UNTRANSLATABLE_CHARACTER: &str = "22P05";
pub const STATEMENT_TOO_COMPLEX: &str = "54001";
pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";

/// Every code this crate raises, so the server can check it knows each one.
pub const ALL_SQLSTATES: &[&str] = &[
    INVALID_DATETIME_FORMAT,
    DATETIME_FIELD_OVERFLOW,
    INVALID_REGULAR_EXPRESSION,
    INVALID_ARGUMENT_FOR_LOGARITHM,
    INVALID_ARGUMENT_FOR_POWER_FUNCTION,
    INVALID_ARGUMENT_FOR_WIDTH_BUCKET,
    NUMERIC_VALUE_OUT_OF_RANGE,
    DIVISION_BY_ZERO,
    INVALID_PARAMETER_VALUE,
    INVALID_TEXT_REPRESENTATION,
    FEATURE_NOT_SUPPORTED,
    UNDEFINED_FUNCTION,
    SYNTAX_ERROR,
    NULL_VALUE_NOT_ALLOWED,
    UNTRANSLATABLE_CHARACTER,
    STATEMENT_TOO_COMPLEX,
    PROGRAM_LIMIT_EXCEEDED,
];

/// A value error raised by one of this crate's functions: PostgreSQL's SQLSTATE and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    pub sqlstate: &'static str,
    pub message: String,
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.sqlstate)
    }
}

impl std::error::Error for FunctionError {}

impl FunctionError {
    pub fn new(sqlstate: &'static str, message: impl Into<String>) -> Self {
        FunctionError {
            sqlstate,
            message: message.into(),
        }
    }

    /// The error inside a `DataFusionError` (through `Context`, `Shared` and nested
    /// `External` wrappers), if there is one.
    pub fn find(e: &DataFusionError) -> Option<&FunctionError> {
        match e {
            DataFusionError::External(inner) => {
                if let Some(f) = inner.downcast_ref::<FunctionError>() {
                    return Some(f);
                }
                inner
                    .downcast_ref::<DataFusionError>()
                    .and_then(FunctionError::find)
            }
            DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
                FunctionError::find(inner)
            }
            DataFusionError::Shared(inner) => FunctionError::find(inner),
            _ => None,
        }
    }
}

impl From<FunctionError> for DataFusionError {
    fn from(e: FunctionError) -> Self {
        DataFusionError::External(Box::new(e))
    }
}

/// Shorthand for a function's failure.
pub(crate) fn fail<T>(
    sqlstate: &'static str,
    message: impl Into<String>,
) -> Result<T, DataFusionError> {
    Err(FunctionError::new(sqlstate, message).into())
}
