//! PostgreSQL operators DataFusion does not plan, as the expressions they stand for.

use sqlparser::ast::{Expr, UnaryOperator};

use crate::build;

/// The replacement of `expr`, if it is one of these:
/// - the prefix operators `|/ x` (square root), `||/ x` (cube root) and `@ x` (absolute value);
/// - `x [NOT] LIKE ANY (ARRAY[p, …])` (and ILIKE): PostgreSQL's `op ANY (array)` is an OR over
///   the elements, with its NULL logic, which is what the chain of ORs gives.
pub(super) fn rewrite(expr: &Expr) -> Option<Expr> {
    match expr {
        Expr::UnaryOp { op, expr } => {
            let function = match op {
                UnaryOperator::PGSquareRoot => "sqrt",
                UnaryOperator::PGCubeRoot => "cbrt",
                UnaryOperator::PGAbs => "abs",
                _ => return None,
            };
            Some(build::call(function, vec![(**expr).clone()]))
        }
        Expr::Like {
            negated,
            any: true,
            expr,
            pattern,
            escape_char,
        } => any_of(pattern, |p| Expr::Like {
            negated: *negated,
            any: false,
            expr: expr.clone(),
            pattern: Box::new(p),
            escape_char: escape_char.clone(),
        }),
        Expr::ILike {
            negated,
            any: true,
            expr,
            pattern,
            escape_char,
        } => any_of(pattern, |p| Expr::ILike {
            negated: *negated,
            any: false,
            expr: expr.clone(),
            pattern: Box::new(p),
            escape_char: escape_char.clone(),
        }),
        _ => None,
    }
}

/// `(ARRAY[p, …])` as `one(p) OR …`; None for anything but a non-empty array literal.
fn any_of(patterns: &Expr, one: impl Fn(Expr) -> Expr) -> Option<Expr> {
    let mut e = patterns;
    while let Expr::Nested(inner) = e {
        e = inner;
    }
    let Expr::Array(array) = e else { return None };
    if array.elem.is_empty() {
        return None;
    }
    Some(build::nested(build::any_of(
        array.elem.iter().cloned().map(one).collect::<Vec<_>>(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(sql: &str) -> Expr {
        let stmts = crate::parse::statements(&format!("SELECT {sql}")).unwrap();
        let sqlparser::ast::Statement::Query(q) = &stmts[0] else {
            panic!()
        };
        let sqlparser::ast::SetExpr::Select(s) = q.body.as_ref() else {
            panic!()
        };
        match &s.projection[0] {
            sqlparser::ast::SelectItem::UnnamedExpr(e) => e.clone(),
            _ => panic!(),
        }
    }

    #[test]
    fn prefix_operators_are_functions() {
        assert_eq!(rewrite(&expr("|/ 16")).unwrap().to_string(), "sqrt(16)");
        assert_eq!(rewrite(&expr("||/ 27")).unwrap().to_string(), "cbrt(27)");
        assert_eq!(rewrite(&expr("@ -5")).unwrap().to_string(), "abs(-5)");
        assert!(rewrite(&expr("-5")).is_none());
    }

    #[test]
    fn like_any_is_an_or_chain() {
        assert_eq!(
            rewrite(&expr("n LIKE ANY (ARRAY['A%', 'B%'])"))
                .unwrap()
                .to_string(),
            "((n LIKE 'A%') OR (n LIKE 'B%'))"
        );
        assert_eq!(
            rewrite(&expr("n NOT ILIKE ANY (ARRAY['a%'])"))
                .unwrap()
                .to_string(),
            "((n NOT ILIKE 'a%'))"
        );
    }
}
