//! Standard clauses DataFusion does not plan, in a spelling it does.

use sqlparser::ast::{
    Expr, GroupByExpr, LimitClause, Query, Select, SelectItem, Value, ValueWithSpan,
};

use crate::error::{Code, FrontError};

/// `WITH RECURSIVE r AS (… UNION … ORDER BY …)`: PostgreSQL does not implement ORDER BY in a
/// recursive query (0A000); the engine would sort each iteration's rows and answer.
pub(super) fn unsupported_recursion(q: &Query) -> Option<FrontError> {
    let with = q.with.as_ref().filter(|w| w.recursive)?;
    with.cte_tables
        .iter()
        .any(|cte| {
            cte.query.order_by.is_some()
                && matches!(
                    cte.query.body.as_ref(),
                    sqlparser::ast::SetExpr::SetOperation { .. }
                )
        })
        .then(|| {
            FrontError::new(
                Code::FeatureNotSupported,
                "ORDER BY in a recursive query is not implemented",
            )
        })
}

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

/// GROUP BY as PostgreSQL reads it where DataFusion does not: `()` is the empty grouping set
/// (in a plain list it adds nothing, and alone it is the grand total, as with no GROUP BY), and
/// a position inside `ROLLUP`, `CUBE` or `GROUPING SETS` names a select-list item as a plain
/// `GROUP BY 1` does.
pub(super) fn group_by_positions(select: &mut Select) {
    let GroupByExpr::Expressions(exprs, _) = &mut select.group_by else {
        return;
    };
    exprs.retain(|e| !matches!(e, Expr::Tuple(t) if t.is_empty()));
    let items: Vec<Option<&Expr>> = select
        .projection
        .iter()
        .map(|i| match i {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
            _ => None,
        })
        .collect();
    for e in exprs.iter_mut() {
        let (Expr::Rollup(sets) | Expr::Cube(sets) | Expr::GroupingSets(sets)) = e else {
            continue;
        };
        for x in sets.iter_mut().flatten() {
            let Expr::Value(ValueWithSpan {
                value: Value::Number(n, _),
                ..
            }) = x
            else {
                continue;
            };
            let item = n
                .parse::<usize>()
                .ok()
                .and_then(|k| k.checked_sub(1))
                .and_then(|k| items.get(k).copied().flatten());
            if let Some(item) = item {
                *x = item.clone();
            }
        }
    }
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
