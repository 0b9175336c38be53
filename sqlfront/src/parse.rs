//! The parser meshgate reads statements with: PostgreSQL's dialect, and a bound on nesting.

use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};

/// How deeply a statement may nest (subqueries, parentheses, operators) before it is refused
/// with `RecursionLimitExceeded`: sqlparser's own default, named here so the server and the
/// `sql` fuzz target parse alike. The rewrites and DataFusion's planner recurse over the tree
/// the parser returns, so this bound is also theirs, on the server's 2 MiB worker stacks.
pub const RECURSION_LIMIT: usize = 50;

/// The statements of a message's (respelled) text.
pub fn statements(sql: &str) -> Result<Vec<Statement>, ParserError> {
    Parser::new(&PostgreSqlDialect {})
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)?
        .parse_statements()
}
