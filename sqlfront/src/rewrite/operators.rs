//! PostgreSQL operators DataFusion does not plan, as the expressions they stand for.

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator,
};

use crate::build;

/// The replacement of `expr`, if it is one of these:
/// - the prefix operators `|/ x` (square root), `||/ x` (cube root), `@ x` (absolute value) and
///   `~ x` (bitwise not);
/// - `t AT TIME ZONE z`, which is PostgreSQL's `timezone(z, t)`;
/// - `(s1, e1) OVERLAPS (s2, e2)`;
/// - `x BETWEEN SYMMETRIC a AND b` (see respell);
/// - `x [NOT] LIKE ANY (ARRAY[p, …])` (and ILIKE): PostgreSQL's `op ANY (array)` is an OR over
///   the elements, with its NULL logic, which is what the chain of ORs gives;
/// - row comparisons `(a, b) op (c, d)`, which DataFusion would compare as structs (where a NULL
///   field makes `=` false instead of NULL).
pub(super) fn rewrite(expr: &Expr) -> Option<Expr> {
    match expr {
        Expr::BinaryOp { left, op, right } => match (left.as_ref(), right.as_ref()) {
            (Expr::Tuple(l), Expr::Tuple(r))
                if *op == BinaryOperator::Overlaps && l.len() == 2 && r.len() == 2 =>
            {
                Some(overlaps(&l[0], &l[1], &r[0], &r[1]))
            }
            (Expr::Tuple(l), Expr::Tuple(r)) if l.len() == r.len() && !l.is_empty() => {
                rows(l, op, r)
            }
            _ => None,
        },
        // PostgreSQL's meaning, in its function form (the engine's AT TIME ZONE treats a
        // timestamptz as a timestamp and gives another instant).
        Expr::AtTimeZone {
            timestamp,
            time_zone,
        } => Some(build::call(
            "timezone",
            vec![(**time_zone).clone(), (**timestamp).clone()],
        )),
        // BETWEEN SYMMETRIC (respelled with its low bound marked): either order of the bounds.
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let Expr::Function(f) = low.as_ref() else {
                return None;
            };
            if f.name.to_string() != "meshgate_symmetric" {
                return None;
            }
            let FunctionArguments::List(list) = &f.args else {
                return None;
            };
            let [FunctionArg::Unnamed(FunctionArgExpr::Expr(low))] = list.args.as_slice() else {
                return None;
            };
            let between = |a: &Expr, b: &Expr| Expr::Between {
                expr: expr.clone(),
                negated: false,
                low: Box::new(a.clone()),
                high: Box::new(b.clone()),
            };
            let either = build::nested(Expr::BinaryOp {
                left: Box::new(between(low, high)),
                op: BinaryOperator::Or,
                right: Box::new(between(high, low)),
            });
            Some(if *negated { build::not(either) } else { either })
        }
        // Two's complement: `~x` is `-x - 1` for every integer, in x's type.
        Expr::UnaryOp {
            op: UnaryOperator::BitwiseNot,
            expr,
        } => Some(Expr::BinaryOp {
            left: Box::new(Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr: Box::new(build::nested((**expr).clone())),
            }),
            op: BinaryOperator::Minus,
            right: Box::new(build::number(1)),
        }),
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

/// PostgreSQL's row comparison: `=` when every pair is equal, `<>` when some pair differs;
/// `<`, `<=`, `>`, `>=` decided by the first pair that is not equal, NULL when that pair holds
/// a NULL. The chains of AND and OR below give exactly that under SQL's three-valued logic.
fn rows(l: &[Expr], op: &BinaryOperator, r: &[Expr]) -> Option<Expr> {
    let pair = |i: usize, op: BinaryOperator| {
        build::nested(Expr::BinaryOp {
            left: Box::new(l[i].clone()),
            op,
            right: Box::new(r[i].clone()),
        })
    };
    let n = l.len();
    match op {
        BinaryOperator::Eq => Some(build::nested(
            (1..n).fold(pair(0, BinaryOperator::Eq), |acc, i| {
                build::and(acc, pair(i, BinaryOperator::Eq))
            }),
        )),
        BinaryOperator::NotEq => Some(build::nested(build::any_of(
            (0..n).map(|i| pair(i, BinaryOperator::NotEq)),
        ))),
        BinaryOperator::Lt | BinaryOperator::LtEq | BinaryOperator::Gt | BinaryOperator::GtEq => {
            let strict = match op {
                BinaryOperator::Lt | BinaryOperator::LtEq => BinaryOperator::Lt,
                _ => BinaryOperator::Gt,
            };
            // From the last pair outwards: last (op), then strict OR (equal AND rest).
            let mut acc = pair(n - 1, op.clone());
            for i in (0..n - 1).rev() {
                acc = build::nested(build::any_of([
                    pair(i, strict.clone()),
                    build::and(pair(i, BinaryOperator::Eq), acc),
                ]));
            }
            Some(acc)
        }
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

/// PostgreSQL's OVERLAPS: each period from its earlier to its later end, half open (a period
/// whose ends are equal is that instant); periods starting together always overlap.
fn overlaps(a: &Expr, b: &Expr, c: &Expr, d: &Expr) -> Expr {
    let ends = |x: &Expr, y: &Expr| {
        (
            build::call("least", vec![x.clone(), y.clone()]),
            build::call("greatest", vec![x.clone(), y.clone()]),
        )
    };
    let ((s1, e1), (s2, e2)) = (ends(a, b), ends(c, d));
    let cmp = |l: &Expr, op: BinaryOperator, r: &Expr| Expr::BinaryOp {
        left: Box::new(l.clone()),
        op,
        right: Box::new(r.clone()),
    };
    let either_null = Expr::BinaryOp {
        left: Box::new(Expr::IsNull(Box::new(s1.clone()))),
        op: BinaryOperator::Or,
        right: Box::new(Expr::IsNull(Box::new(s2.clone()))),
    };
    build::case_when(
        either_null,
        build::null(),
        build::case_when(
            cmp(&s1, BinaryOperator::Gt, &s2),
            cmp(&s1, BinaryOperator::Lt, &e2),
            build::case_when(
                cmp(&s1, BinaryOperator::Lt, &s2),
                cmp(&s2, BinaryOperator::Lt, &e1),
                build::boolean(true),
            ),
        ),
    )
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
    fn row_comparisons_compare_pair_by_pair() {
        assert_eq!(
            rewrite(&expr("(1, NULL) = (1, 2)")).unwrap().to_string(),
            "((1 = 1) AND (NULL = 2))"
        );
        assert_eq!(
            rewrite(&expr("(a, b) < (c, d)")).unwrap().to_string(),
            "(((a < c)) OR ((a = c) AND (b < d)))"
        );
        assert!(rewrite(&expr("(1, 2) = (1, 2, 3)")).is_none());
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
