//! The parser meshgate reads statements with: PostgreSQL's dialect, and a bound on nesting.

use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

/// How deeply a statement may nest (subqueries, parentheses, operators) before it is refused
/// with `RecursionLimitExceeded`: sqlparser's own default, named here so the server and the
/// `sql` fuzz target parse alike. The rewrites and DataFusion's planner recurse over the tree
/// the parser returns, so this bound is also theirs, on the server's 2 MiB worker stacks.
pub const RECURSION_LIMIT: usize = 50;

/// How deeply brackets may nest, and how deeply function calls and subqueries in expressions.
/// sqlparser 0.61 backtracks through brackets, so its time can double per level. Measured in a
/// release build: `abs(abs(…))` 16 deep parses in 0.14 s, 20 deep in 1.4 s, 22 deep in 5.4 s;
/// a scalar subquery 20 deep in 3.3 s; an invalid `(SELECT(S * FROM …` (two brackets a level,
/// found by fuzzing) 20 brackets deep in 0.5 s, 24 deep in 8 s. The parse runs on a worker
/// thread nothing can interrupt, so one short statement could hold it for hours; past these
/// bounds a statement is refused (54001) before it is parsed. Grouping parentheses, derived
/// tables and arrays of valid statements parse in linear time, but invalid ones need not.
pub const NESTING_LIMIT: usize = 20;
/// See [`NESTING_LIMIT`].
pub const CALL_NESTING_LIMIT: usize = 16;

/// The statements of a message's (respelled) text.
pub fn statements(sql: &str) -> Result<Vec<Statement>, ParserError> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .with_unescape(true)
        .tokenize_with_location()?;
    let (all, calls) = nesting(&tokens);
    if all > NESTING_LIMIT || calls > CALL_NESTING_LIMIT {
        return Err(ParserError::RecursionLimitExceeded);
    }
    Parser::new(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .with_tokens_with_locations(tokens)
        .parse_statements()
}

/// The deepest nesting of brackets, and of those that open a function call or a subquery in an
/// expression.
fn nesting(tokens: &[TokenWithSpan]) -> (usize, usize) {
    let significant: Vec<&Token> = tokens
        .iter()
        .map(|t| &t.token)
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    // One entry per open bracket: whether it counts.
    let mut open: Vec<bool> = Vec::new();
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut deepest_all = 0usize;
    for (i, t) in significant.iter().enumerate() {
        match t {
            Token::LParen | Token::LBracket => {
                let before = i.checked_sub(1).map(|j| significant[j]);
                let after = significant.get(i + 1).copied();
                let counts =
                    matches!(t, Token::LParen) && (calls(before) || subquery(before, after));
                open.push(counts);
                deepest_all = deepest_all.max(open.len());
                if counts {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
            }
            Token::RParen | Token::RBracket => {
                // A stray closing bracket pops nothing; the parser reports it.
                depth -= usize::from(open.pop() == Some(true));
            }
            _ => {}
        }
    }
    (deepest_all, deepest)
}

/// A bracket right after a name opens a call (a function, or a type's modifiers), unless the
/// word is one after which a bracket only groups.
fn calls(before: Option<&Token>) -> bool {
    let Some(Token::Word(w)) = before else {
        return false;
    };
    w.quote_style.is_some()
        || !matches!(
            w.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::NOT
                | Keyword::CASE
                | Keyword::WHEN
                | Keyword::THEN
                | Keyword::ELSE
                | Keyword::SELECT
                | Keyword::WHERE
                | Keyword::HAVING
                | Keyword::ON
                | Keyword::BY
                | Keyword::IN
                | Keyword::IS
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::BETWEEN
                | Keyword::EXISTS
                | Keyword::ANY
                | Keyword::ALL
                | Keyword::SOME
                | Keyword::AS
                | Keyword::FROM
                | Keyword::JOIN
                | Keyword::LATERAL
                | Keyword::USING
                | Keyword::VALUES
                | Keyword::UNION
                | Keyword::INTERSECT
                | Keyword::EXCEPT
                | Keyword::DISTINCT
                | Keyword::WITH
                | Keyword::RETURNING
                | Keyword::INTO
                | Keyword::TABLE
                | Keyword::SET
                | Keyword::LIMIT
                | Keyword::OFFSET
        )
}

/// A bracket that opens a subquery inside an expression; derived tables, CTE bodies and set
/// operands are not counted.
fn subquery(before: Option<&Token>, after: Option<&Token>) -> bool {
    let opens_query = matches!(after, Some(Token::Word(w)) if matches!(w.keyword, Keyword::SELECT | Keyword::WITH | Keyword::VALUES));
    let relation = matches!(before, Some(Token::Word(w)) if w.quote_style.is_none() && matches!(
        w.keyword,
        Keyword::FROM | Keyword::JOIN | Keyword::LATERAL | Keyword::AS | Keyword::UNION
            | Keyword::INTERSECT | Keyword::EXCEPT | Keyword::ALL | Keyword::DISTINCT
    )) || before.is_none();
    opens_query && !relation
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a thread with room for a debug build's deep recursion (release builds parse
    /// these within a 2 MiB stack).
    fn with_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
        format!("SELECT {}{inner}{}", open.repeat(n), close.repeat(n))
    }

    #[test]
    fn deep_calls_and_scalar_subqueries_are_refused_before_parsing() {
        with_stack(deep_calls_refused);
    }

    fn deep_calls_refused() {
        for (open, close) in [("abs(", ")"), ("(SELECT ", ")"), ("coalesce(1, ", ")")] {
            assert!(
                statements(&nested(open, "1", close, CALL_NESTING_LIMIT)).is_ok(),
                "{open}"
            );
            assert!(
                matches!(
                    statements(&nested(open, "1", close, CALL_NESTING_LIMIT + 1)),
                    Err(ParserError::RecursionLimitExceeded)
                ),
                "{open}"
            );
        }
        // Far past the limit, refused at once, before the parser could spend hours on it.
        let started = std::time::Instant::now();
        assert!(statements(&nested("abs(", "1", ")", 40)).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn grouping_derived_tables_and_keywords_do_not_count() {
        with_stack(shallow_shapes_pass);
    }

    fn shallow_shapes_pass() {
        let n = NESTING_LIMIT;
        assert!(statements(&nested("(", "1", ")", n)).is_ok());
        assert!(matches!(
            statements(&nested("(", "1", ")", n + 1)),
            Err(ParserError::RecursionLimitExceeded)
        ));
        let derived = format!(
            "SELECT * FROM {}t{}",
            "(SELECT * FROM ".repeat(n),
            ") s".repeat(n)
        );
        assert!(statements(&derived).is_ok());
        let words = format!("SELECT 1 WHERE {}true{}", "NOT (".repeat(n), ")".repeat(n));
        assert!(statements(&words).is_ok());
        assert_eq!(nesting(&tokens("SELECT f(g(1), (h(2)))")), (3, 2));
        assert_eq!(
            nesting(&tokens("SELECT x FROM (SELECT 1) t WHERE y IN (SELECT 2)")),
            (1, 1)
        );
        // The shape fuzzing found: two brackets a level, the inner one grouping.
        let found = "(SELECT(S * FROM ".repeat(11);
        assert_eq!(nesting(&tokens(&found)).0, 22);
        assert!(statements(&found).is_err());
    }

    fn tokens(sql: &str) -> Vec<TokenWithSpan> {
        Tokenizer::new(&PostgreSqlDialect {}, sql)
            .tokenize_with_location()
            .unwrap()
    }
}
