//! Standard clauses DataFusion does not plan, in a spelling it does.

use sqlparser::ast::{Expr, LimitClause, Query, Value};

/// `[OFFSET n ROWS] FETCH {FIRST | NEXT} [m] {ROW | ROWS} ONLY` is `LIMIT m [OFFSET n]` (m is 1
/// when omitted). `WITH TIES` and `PERCENT` have no LIMIT spelling and are left to fail (0A000).
pub(super) fn fetch_as_limit(q: &mut Query) {
    let Some(fetch) = &q.fetch else { return };
    if fetch.with_ties || fetch.percent {
        return;
    }
    let count = fetch
        .quantity
        .clone()
        .unwrap_or_else(|| Expr::value(Value::Number("1".into(), false)));
    match &mut q.limit_clause {
        None => {
            q.limit_clause = Some(LimitClause::LimitOffset {
                limit: Some(count),
                offset: None,
                limit_by: Vec::new(),
            })
        }
        Some(LimitClause::LimitOffset {
            limit: limit @ None,
            ..
        }) => *limit = Some(count),
        // Both LIMIT and FETCH: PostgreSQL refuses it, and so will the planner.
        Some(_) => return,
    }
    q.fetch = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(sql: &str) -> String {
        let mut stmts = crate::parse::statements(sql).unwrap();
        let sqlparser::ast::Statement::Query(q) = &mut stmts[0] else {
            panic!("a query")
        };
        fetch_as_limit(q);
        q.to_string()
    }

    #[test]
    fn fetch_first_is_a_limit() {
        assert_eq!(
            limited("SELECT a FROM t ORDER BY a FETCH FIRST 2 ROWS ONLY"),
            "SELECT a FROM t ORDER BY a LIMIT 2"
        );
        assert_eq!(
            limited("SELECT a FROM t ORDER BY a FETCH FIRST ROW ONLY"),
            "SELECT a FROM t ORDER BY a LIMIT 1"
        );
        assert_eq!(
            limited("SELECT a FROM t ORDER BY a OFFSET 5 ROWS FETCH NEXT 2 ROWS ONLY"),
            "SELECT a FROM t ORDER BY a LIMIT 2 OFFSET 5 ROWS"
        );
        let ties = "SELECT a FROM t ORDER BY a FETCH FIRST 3 ROWS WITH TIES";
        assert_eq!(limited(ties), ties);
    }
}
