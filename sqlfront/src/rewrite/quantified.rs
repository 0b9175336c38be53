//! `x op ANY (…)` and `x op ALL (…)` with PostgreSQL's meaning. DataFusion plans
//! `= ANY (array)` as `array_has`, which says false where PostgreSQL says NULL
//! (`3 = ANY (ARRAY[1, NULL])`), rejects other operators and `ALL` over arrays, and plans
//! `= ANY (subquery)` with another mechanism than `IN (subquery)` that disagrees with it. In
//! PostgreSQL they are the same thing:
//!
//! - `x = ANY (subquery)` is `x IN (subquery)`, `x <> ALL (subquery)` is `x NOT IN (subquery)`;
//! - over a literal array (`ARRAY[…]`, or a text literal `'{r,p}'` as pgcli sends), `= ANY` is an
//!   IN list and any other operator an OR (ANY) or AND (ALL) of the comparisons, which keeps
//!   three-valued logic exactly.
//!
//! A parameter is read as an array even when it is bound as text (`'{r,p}'`, psycopg's untyped
//! list); other arrays (a column) keep DataFusion's planning.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, DataType, Expr, Statement, Value, ValueWithSpan, VisitMut, VisitorMut,
};

use crate::build;

pub fn rewrite(stmt: &mut Statement) {
    let _ = stmt.visit(&mut Quantified);
}

struct Quantified;

impl VisitorMut for Quantified {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let (left, op, right, any) = match e {
            Expr::AnyOp {
                left,
                compare_op,
                right,
                ..
            } => (left, compare_op, right, true),
            Expr::AllOp {
                left,
                compare_op,
                right,
            } => (left, compare_op, right, false),
            _ => return ControlFlow::Continue(()),
        };
        let right = unnested(right);
        // `= ANY ($1)`: a driver may bind the array as untyped text ('{r,p}'), which PostgreSQL
        // reads as an array; the functions crate's meshgate_array_param does the same.
        if matches!(
            right,
            Expr::Value(ValueWithSpan {
                value: Value::Placeholder(_),
                ..
            })
        ) {
            let param = build::call("meshgate_array_param", vec![right.clone()]);
            match e {
                Expr::AnyOp { right, .. } | Expr::AllOp { right, .. } => **right = param,
                _ => {}
            }
            return ControlFlow::Continue(());
        }
        if let Expr::Subquery(q) = right {
            let negated = match (any, &op) {
                (true, BinaryOperator::Eq) => false,
                (false, BinaryOperator::NotEq) => true,
                _ => return ControlFlow::Continue(()),
            };
            *e = Expr::InSubquery {
                expr: left.clone(),
                subquery: q.clone(),
                negated,
            };
            return ControlFlow::Continue(());
        }
        let Some(elements) = literal_elements(right) else {
            return ControlFlow::Continue(());
        };
        *e = match (any, &op) {
            (true, BinaryOperator::Eq) if !elements.is_empty() => Expr::InList {
                expr: left.clone(),
                list: elements,
                negated: false,
            },
            (false, BinaryOperator::NotEq) if !elements.is_empty() => Expr::InList {
                expr: left.clone(),
                list: elements,
                negated: true,
            },
            _ => {
                let comparisons = elements.into_iter().map(|el| Expr::BinaryOp {
                    left: left.clone(),
                    op: op.clone(),
                    right: Box::new(el),
                });
                let joined = comparisons.reduce(|a, b| Expr::BinaryOp {
                    left: Box::new(a),
                    op: if any {
                        BinaryOperator::Or
                    } else {
                        BinaryOperator::And
                    },
                    right: Box::new(b),
                });
                // ANY of nothing is false, ALL of nothing is true.
                build::nested(joined.unwrap_or_else(|| build::boolean(!any)))
            }
        };
        ControlFlow::Continue(())
    }
}

fn unnested(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) => unnested(inner),
        other => other,
    }
}

/// The elements of a literal one-dimensional array: `ARRAY[a, b]`, `'{a,b}'`, or either cast
/// to `type[]` (each element then cast to `type`). None for anything else.
fn literal_elements(e: &Expr) -> Option<Vec<Expr>> {
    match e {
        Expr::Array(a) => {
            if a.elem.iter().any(|el| matches!(el, Expr::Array(_))) {
                return None;
            }
            Some(a.elem.clone())
        }
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s),
            ..
        }) => Some(
            parse_array_text(s)?
                .into_iter()
                .map(|v| v.map_or_else(build::null, |s| build::string(&s)))
                .collect(),
        ),
        Expr::Cast {
            expr, data_type, ..
        } => {
            let element_type = match data_type {
                DataType::Array(def) => match def {
                    sqlparser::ast::ArrayElemTypeDef::AngleBracket(t)
                    | sqlparser::ast::ArrayElemTypeDef::SquareBracket(t, _)
                    | sqlparser::ast::ArrayElemTypeDef::Parenthesis(t) => t.as_ref().clone(),
                    sqlparser::ast::ArrayElemTypeDef::None => return None,
                },
                _ => return None,
            };
            let s = match unnested(expr) {
                Expr::Value(ValueWithSpan {
                    value: Value::SingleQuotedString(s),
                    ..
                }) => s,
                // `ARRAY[…]::int[]`: the elements cast to the element type.
                array @ Expr::Array(_) => {
                    return Some(
                        literal_elements(array)?
                            .into_iter()
                            .map(|el| build::cast(el, element_type.clone()))
                            .collect(),
                    )
                }
                _ => return None,
            };
            Some(
                parse_array_text(s)?
                    .into_iter()
                    .map(|v| match v {
                        Some(s) => build::cast(build::string(&s), element_type.clone()),
                        None => build::cast(build::null(), element_type.clone()),
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

/// PostgreSQL's text form of a one-dimensional array: `{a,"b c",NULL}`; None when it is not one
/// (nested, malformed), which leaves the expression to DataFusion and its error. Also the
/// functions crate's reading of text arrays (JSON paths).
pub fn parse_array_text(s: &str) -> Option<Vec<Option<String>>> {
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    if inner.trim().is_empty() {
        return Some(out);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' || c == '"' {
                    return None;
                }
                if c == '\\' {
                    chars.next();
                    value.push(chars.next()?);
                    continue;
                }
                value.push(c);
                chars.next();
            }
            value = value.trim_end().to_string();
        }
        if !quoted && value.eq_ignore_ascii_case("null") {
            out.push(None);
        } else {
            out.push(Some(value));
        }
        match chars.next() {
            None => return Some(out),
            Some(',') => continue,
            Some(_) => return None,
        }
    }
}

/// `(a, b) IN (SELECT x, y …)` as a conjunct of WHERE is `EXISTS (SELECT 1 FROM (SELECT x, y …)
/// AS _row_in(c1, c2) WHERE c1 = a AND c2 = b)`; DataFusion compares only one column with a
/// subquery. In WHERE, a row that IN would make NULL (no match, a NULL compared) is dropped
/// like one EXISTS makes false; elsewhere (under NOT, in a select list) the two differ, so only
/// plain conjuncts are rewritten.
pub(super) fn rows_in_subquery(select: &mut sqlparser::ast::Select) {
    if let Some(w) = select.selection.as_mut() {
        conjuncts(w);
    }
}

fn conjuncts(e: &mut Expr) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left);
            conjuncts(right);
        }
        Expr::Nested(inner) => conjuncts(inner),
        Expr::InSubquery {
            expr,
            subquery,
            negated: false,
        } => {
            let Expr::Tuple(fields) = unnested(expr) else {
                return;
            };
            let names: Vec<String> = (1..=fields.len()).map(|i| format!("c{i}")).collect();
            let columns: Vec<&str> = names.iter().map(String::as_str).collect();
            let alias = build::object_name(&["_row_in"]);
            let matches = fields
                .iter()
                .zip(&names)
                .map(|(f, n)| Expr::BinaryOp {
                    left: Box::new(build::column(Some(&alias), n)),
                    op: BinaryOperator::Eq,
                    right: Box::new(f.clone()),
                })
                .reduce(build::and);
            let Some(matches) = matches else {
                return;
            };
            *e = build::exists(build::select(
                vec![build::item(build::number(1))],
                vec![build::derived((**subquery).clone(), "_row_in", &columns)],
                Some(matches),
            ));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut stmt = super::super::parsed(sql);
        rewrite(&mut stmt);
        stmt.to_string()
    }

    #[test]
    fn any_and_all_over_subqueries_are_in_and_not_in() {
        assert_eq!(
            rewritten("SELECT 1 WHERE x = ANY (SELECT y FROM t)"),
            "SELECT 1 WHERE x IN (SELECT y FROM t)"
        );
        assert_eq!(
            rewritten("SELECT 1 WHERE x <> ALL (SELECT y FROM t)"),
            "SELECT 1 WHERE x NOT IN (SELECT y FROM t)"
        );
        // Other operators keep DataFusion's planning.
        assert_eq!(
            rewritten("SELECT 1 WHERE x > ANY (SELECT y FROM t)"),
            "SELECT 1 WHERE x > ANY(SELECT y FROM t)"
        );
    }

    #[test]
    fn literal_arrays_become_lists_and_comparisons() {
        assert_eq!(
            rewritten("SELECT 3 = ANY (ARRAY[1, NULL])"),
            "SELECT 3 IN (1, NULL)"
        );
        assert_eq!(
            rewritten("SELECT x > ALL (ARRAY[1, 2])"),
            "SELECT (x > 1 AND x > 2)"
        );
        assert_eq!(rewritten("SELECT x < ANY (ARRAY[])"), "SELECT (false)");
        assert_eq!(
            rewritten("SELECT relkind = ANY ('{r,p}') FROM pg_class"),
            "SELECT relkind IN ('r', 'p') FROM pg_class"
        );
        assert_eq!(
            rewritten("SELECT c = ANY ('{\"a b\",NULL}'::text[])"),
            "SELECT c IN (CAST('a b' AS TEXT), CAST(NULL AS TEXT))"
        );
        // A column holding an array is left to DataFusion.
        assert_eq!(
            rewritten("SELECT 1 = ANY(a) FROM t"),
            "SELECT 1 = ANY(a) FROM t"
        );
    }

    #[test]
    fn array_text_parses_as_postgres_reads_it() {
        assert_eq!(
            parse_array_text(r#"{a, "b,c" ,NULL,"NULL",d\,e}"#),
            Some(vec![
                Some("a".into()),
                Some("b,c".into()),
                None,
                Some("NULL".into()),
                Some("d,e".into())
            ])
        );
        assert_eq!(parse_array_text("{}"), Some(vec![]));
        assert_eq!(parse_array_text("{{1,2},{3,4}}"), None);
        assert_eq!(parse_array_text("not an array"), None);
    }
}
