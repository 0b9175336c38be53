//! PostgreSQL prints each numeric quotient, average, variance, standard deviation and
//! conversion to numeric with its own display scale
//! (`7.0 / 2` is 3.5000000000000000, `2.0 / 3` is 0.66666666666666666667); an Arrow column has
//! one scale. For a result the client reads, each such column of the outermost select list gets
//! a hidden column beside it holding every value's display scale, asked of the functions that
//! compute it from the same operands; the wire layer prints the values with it and never sends
//! the hidden column. Columns of other types get NULL scales and print as before.
//!
//! Only the statement's own select list gets them: its items are the result's columns one to
//! one (no DISTINCT, which would compare the scales too; no set operation, whose branches
//! would need them alike). A hidden column names its column by position, from the front, or
//! from the back when a `*` comes first (its width is not known before planning).

use sqlparser::ast::{
    BinaryOperator, DuplicateTreatment, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    Ident, ObjectName, ObjectNamePart, Query, SelectItem, SetExpr, Statement,
};

use super::result_types::TO_NUMERIC;
use crate::build;

/// The display scale of `a / b` per row (NULL unless numeric division).
pub const DIV_DSCALE: &str = "meshgate_div_dscale";
/// The function answering the display scale of an aggregate's result per group (NULL unless
/// its argument is an integer or numeric), by the aggregate's name.
pub fn aggregate_dscale(name: &str) -> Option<&'static str> {
    Some(match name {
        "avg" => "meshgate_avg_dscale",
        "variance" | "var_samp" => "meshgate_var_samp_dscale",
        "var_pop" => "meshgate_var_pop_dscale",
        "stddev" | "stddev_samp" => "meshgate_stddev_samp_dscale",
        "stddev_pop" => "meshgate_stddev_pop_dscale",
        _ => return None,
    })
}
/// The display scale of `x::numeric` per row: PostgreSQL's conversion keeps the digits the
/// value has (`1::float8::numeric` is 1, `0.1::float8::numeric` 0.1), an Arrow cast gives them
/// the column's scale.
pub const CAST_DSCALE: &str = "meshgate_cast_dscale";

/// Leads the name of a hidden display-scale column; then `f` or `b` and the position.
const HIDDEN: &str = "\u{1e}dscale:";

/// Adds the hidden display-scale columns to a query whose rows go to the client.
pub fn add_display_scales(stmt: &mut Statement) {
    let Statement::Query(q) = stmt else {
        return;
    };
    add_to_query(q);
}

fn add_to_query(q: &mut Query) {
    let SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    if select.distinct.is_some() {
        return;
    }
    let wildcard = |i: &SelectItem| {
        matches!(
            i,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    };
    let first_star = select.projection.iter().position(wildcard);
    let last_star = select.projection.iter().rposition(wildcard);
    let n = select.projection.len();
    let mut hidden = Vec::new();
    for (i, item) in select.projection.iter().enumerate() {
        let (SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }) = item else {
            continue;
        };
        let position = match (first_star, last_star) {
            (None, _) => format!("f{i}"),
            (Some(f), _) if i < f => format!("f{i}"),
            (_, Some(l)) if i > l => format!("b{}", n - 1 - i),
            _ => continue,
        };
        if let Some(scale) = display_scale_of(e) {
            hidden.push(build::aliased(scale, &format!("{HIDDEN}{position}")));
        }
    }
    select.projection.extend(hidden);
}

/// The expression giving the display scale of `e`'s values, for a quotient or an average.
fn display_scale_of(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Nested(inner) => display_scale_of(inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Divide,
            right,
        } => Some(build::call(
            DIV_DSCALE,
            vec![left.as_ref().clone(), right.as_ref().clone()],
        )),
        Expr::Function(f) => {
            let Some(ObjectNamePart::Identifier(name)) = f.name.0.last() else {
                return None;
            };
            if name.value == TO_NUMERIC {
                let FunctionArguments::List(args) = &f.args else {
                    return None;
                };
                let [FunctionArg::Unnamed(FunctionArgExpr::Expr(x))] = args.args.as_slice() else {
                    return None;
                };
                return Some(build::call(CAST_DSCALE, vec![x.clone()]));
            }
            let dscale = aggregate_dscale(&name.value.to_ascii_lowercase())?;
            let FunctionArguments::List(args) = &f.args else {
                return None;
            };
            let one_plain_arg =
                matches!(
                    args.args.as_slice(),
                    [FunctionArg::Unnamed(FunctionArgExpr::Expr(_))]
                ) && !matches!(args.duplicate_treatment, Some(DuplicateTreatment::Distinct));
            if !one_plain_arg || !f.within_group.is_empty() {
                return None;
            }
            let mut scale = f.clone();
            scale.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(dscale))]);
            Some(Expr::Function(scale))
        }
        _ => None,
    }
}

/// The visible column a hidden display-scale column belongs to, given the number of visible
/// columns; None for a column that is not one.
pub fn display_scale_target(name: &str, visible: usize) -> Option<usize> {
    let position = name.strip_prefix(HIDDEN)?;
    let n: usize = position.get(1..)?.parse().ok()?;
    match position.as_bytes().first()? {
        b'f' => (n < visible).then_some(n),
        b'b' => visible.checked_sub(n + 1),
        _ => None,
    }
}

/// Whether a result column is a hidden display-scale column.
pub fn is_display_scale(name: &str) -> bool {
    name.starts_with(HIDDEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn added(sql: &str) -> String {
        let mut stmt = super::super::parsed(sql);
        add_display_scales(&mut stmt);
        stmt.to_string()
    }

    #[test]
    fn quotients_and_averages_get_a_scale_column_by_position() {
        let sql = added("SELECT g, a / b, avg(x) FILTER (WHERE x > 0) AS m FROM t GROUP BY g");
        assert!(
            sql.contains("meshgate_div_dscale(a, b) AS \"\u{1e}dscale:f1\""),
            "{sql}"
        );
        assert!(
            sql.contains("meshgate_avg_dscale(x) FILTER (WHERE x > 0) AS \"\u{1e}dscale:f2\""),
            "{sql}"
        );
        let sql = added("SELECT meshgate_to_numeric(x) FROM t");
        assert!(sql.contains("meshgate_cast_dscale(x) AS"), "{sql}");
        let sql = added("SELECT *, a / b, x FROM t");
        assert!(sql.contains("\"\u{1e}dscale:b1\""), "{sql}");
        assert_eq!(display_scale_target("\u{1e}dscale:b1", 5), Some(3));
        assert_eq!(display_scale_target("\u{1e}dscale:f1", 5), Some(1));
        assert_eq!(display_scale_target("\u{1e}dscale:f9", 5), None);
        assert_eq!(display_scale_target("x", 5), None);
    }

    #[test]
    fn results_whose_columns_are_not_the_items_get_none() {
        for sql in [
            "SELECT DISTINCT a / b FROM t",
            "SELECT a / b FROM t UNION ALL SELECT 1",
            "SELECT avg(DISTINCT x) FROM t",
            "SELECT sum(x) FROM t",
            "SELECT x::numeric(10, 2) FROM t",
        ] {
            assert!(!added(sql).contains("dscale"), "{sql}");
        }
    }
}
