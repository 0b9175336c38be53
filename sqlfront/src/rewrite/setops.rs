//! `EXCEPT ALL` and `INTERSECT ALL` keep duplicates as PostgreSQL counts them: a row that
//! appears a times on the left and b times on the right appears max(a − b, 0) times in
//! EXCEPT ALL and min(a, b) times in INTERSECT ALL. DataFusion answers them as if without ALL.
//! Numbering each side's copies of a row (`row_number() OVER (PARTITION BY every column)`)
//! makes every copy distinct, so the distinct operation on the numbered rows is exactly the
//! ALL one, and the numbers are dropped again:
//!
//! ```text
//!  SELECT c1 AS name1, … FROM (
//!      SELECT c1, …, row_number() OVER (PARTITION BY c1, …) FROM (left) AS l(c1, …)
//!      EXCEPT
//!      SELECT c1, …, row_number() OVER (PARTITION BY c1, …) FROM (right) AS r(c1, …)) AS x
//! ```
//!
//! Only where the left side's columns can be counted without the catalog (no `*`).

use sqlparser::ast::{
    Expr, Ident, Query, SelectItem, SetExpr, SetOperator, SetQuantifier, WindowSpec, WindowType,
};

use crate::build;

pub(super) fn all_as_numbered_rows(q: &mut Query) {
    let SetExpr::SetOperation {
        op: op @ (SetOperator::Except | SetOperator::Intersect),
        set_quantifier: SetQuantifier::All,
        left,
        right,
    } = q.body.as_mut()
    else {
        return;
    };
    let Some(names) = output_names(left) else {
        return;
    };
    let columns: Vec<String> = (1..=names.len())
        .map(|i| format!("meshgate_c{i}"))
        .collect();
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    let numbered = |side: &SetExpr, alias: &str| -> SetExpr {
        let keys: Vec<Expr> = columns
            .iter()
            .map(|c| Expr::Identifier(build::ident(c)))
            .collect();
        let mut row_number = build::call("row_number", vec![]);
        if let Expr::Function(f) = &mut row_number {
            f.over = Some(WindowType::WindowSpec(WindowSpec {
                window_name: None,
                partition_by: keys.clone(),
                order_by: vec![],
                window_frame: None,
            }));
        }
        let mut items: Vec<SelectItem> = keys.into_iter().map(build::item).collect();
        items.push(build::aliased(row_number, "meshgate_copy"));
        let from = build::derived(build::query(side.clone()), alias, &columns);
        *build::select(items, vec![from], None).body
    };
    let body = SetExpr::SetOperation {
        op: *op,
        set_quantifier: SetQuantifier::None,
        left: Box::new(numbered(left, "meshgate_l")),
        right: Box::new(numbered(right, "meshgate_r")),
    };
    let items = columns
        .iter()
        .zip(&names)
        .map(|(c, name)| SelectItem::ExprWithAlias {
            expr: Expr::Identifier(build::ident(c)),
            alias: name.clone(),
        })
        .collect();
    let outer = build::select(
        items,
        vec![build::derived(build::query(body), "meshgate_x", &[])],
        None,
    );
    q.body = outer.body;
}

/// The names of a set operation's columns (its first SELECT's), as PostgreSQL names them;
/// None where they cannot be known from the text alone.
fn output_names(body: &SetExpr) -> Option<Vec<Ident>> {
    match body {
        SetExpr::Select(s) => s
            .projection
            .iter()
            .map(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => Some(alias.clone()),
                SelectItem::UnnamedExpr(Expr::Identifier(i)) => Some(i.clone()),
                SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => parts.last().cloned(),
                SelectItem::UnnamedExpr(_) => Some(Ident::with_quote('"', "?column?")),
                _ => None,
            })
            .collect(),
        SetExpr::SetOperation { left, .. } => output_names(left),
        SetExpr::Query(q) => output_names(&q.body),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::ast::Statement;

    fn rewritten(sql: &str) -> String {
        let mut stmt = super::super::parsed(sql);
        if let Statement::Query(q) = &mut stmt {
            all_as_numbered_rows(q);
        }
        stmt.to_string()
    }

    #[test]
    fn all_set_operations_number_their_copies() {
        assert_eq!(
            rewritten("SELECT x FROM t EXCEPT ALL SELECT y FROM u ORDER BY 1"),
            "SELECT \"meshgate_c1\" AS x FROM (SELECT \"meshgate_c1\", row_number() OVER (PARTITION BY \"meshgate_c1\") AS \"meshgate_copy\" FROM (SELECT x FROM t) AS \"meshgate_l\" (\"meshgate_c1\") EXCEPT SELECT \"meshgate_c1\", row_number() OVER (PARTITION BY \"meshgate_c1\") AS \"meshgate_copy\" FROM (SELECT y FROM u) AS \"meshgate_r\" (\"meshgate_c1\")) AS \"meshgate_x\" ORDER BY 1"
        );
        // Without ALL, or with a * whose columns only the catalog knows: unchanged.
        for sql in [
            "SELECT x FROM t EXCEPT SELECT y FROM u",
            "SELECT * FROM t INTERSECT ALL SELECT y FROM u",
            "SELECT x FROM t UNION ALL SELECT y FROM u",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
