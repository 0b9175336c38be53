//! The errors of the front end's tree steps: a SQLSTATE and a message for the client. The
//! server turns them into its `UserError` (src/error.rs), matching on [`Code`], so a new code
//! here does not compile there until it is given its place.

use std::fmt;

/// The SQLSTATEs these steps raise (PostgreSQL, appendix A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 42P01: `'name'::regclass` of a relation that does not exist.
    UndefinedTable,
    /// 22016: `nth_value(x, 0)`.
    InvalidArgumentForNthValue,
    /// 0A000: what PostgreSQL does not implement either (ORDER BY in a recursive query).
    FeatureNotSupported,
}

impl Code {
    /// The five characters clients see.
    pub fn sqlstate(self) -> &'static str {
        match self {
            Code::UndefinedTable => "42P01",
            Code::InvalidArgumentForNthValue => "22016",
            Code::FeatureNotSupported => "0A000",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontError {
    pub code: Code,
    pub message: String,
}

impl FrontError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for FrontError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.sqlstate(), self.message)
    }
}

impl std::error::Error for FrontError {}
