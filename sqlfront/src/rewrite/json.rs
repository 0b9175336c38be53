//! Casts to `json` and `jsonb`. DataFusion's planner has no such types (it refuses the cast);
//! the functions crate reads and checks the text and marks the result's field with the type,
//! so `x::jsonb` becomes a call of its cast function. `jsonb '…'` is the same cast.
//!
//! `row_to_json(t)` (and `to_json(t)`, `to_jsonb(t)`, `json_agg(t)`) names a whole row of the
//! FROM item `t`, which DataFusion does not take as a value: where `t` is a subquery whose
//! columns are known from its text, the row becomes `named_struct('a', t.a, …)`.

use std::ops::ControlFlow;

use sqlparser::ast::{
    DataType, DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentClause, FunctionArguments, Ident, OrderByExpr, OrderByOptions, Select,
    SelectItem, TableFactor, TypedString, VisitMut, VisitorMut,
};

use crate::build;

/// The functions (meshgate-functions, which takes these names from here) that cast text to
/// each type.
pub const CAST_JSON: &str = "meshgate_cast_json";
pub const CAST_JSONB: &str = "meshgate_cast_jsonb";

fn cast_function(t: &DataType) -> Option<&'static str> {
    match t {
        DataType::JSON => Some(CAST_JSON),
        DataType::JSONB => Some(CAST_JSONB),
        DataType::Custom(name, modifiers) if modifiers.is_empty() => {
            match name.to_string().to_ascii_lowercase().as_str() {
                "json" | "pg_catalog.json" => Some(CAST_JSON),
                "jsonb" | "pg_catalog.jsonb" => Some(CAST_JSONB),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The replacement of a cast to a JSON type; `json_agg(DISTINCT x)` ordered by `x`, as
/// PostgreSQL sorts a DISTINCT aggregate's input (DataFusion would group first, in no order).
pub(super) fn rewrite(expr: &Expr) -> Option<Expr> {
    match expr {
        Expr::Function(f) if is_distinct_json_agg(f) => {
            let mut f = f.clone();
            if let FunctionArguments::List(list) = &mut f.args {
                let keys: Vec<OrderByExpr> = list
                    .args
                    .iter()
                    .filter_map(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(OrderByExpr {
                            expr: e.clone(),
                            options: OrderByOptions {
                                asc: None,
                                nulls_first: None,
                            },
                            with_fill: None,
                        }),
                        _ => None,
                    })
                    .collect();
                list.clauses.push(FunctionArgumentClause::OrderBy(keys));
            }
            Some(Expr::Function(f))
        }
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } => Some(build::call(
            cast_function(data_type)?,
            vec![(**inner).clone()],
        )),
        Expr::TypedString(TypedString {
            data_type, value, ..
        }) => Some(build::call(
            cast_function(data_type)?,
            vec![Expr::Value(value.clone())],
        )),
        _ => None,
    }
}

fn is_distinct_json_agg(f: &Function) -> bool {
    let name = f.name.to_string().to_ascii_lowercase();
    let FunctionArguments::List(list) = &f.args else {
        return false;
    };
    matches!(name.as_str(), "json_agg" | "jsonb_agg")
        && list.duplicate_treatment == Some(DuplicateTreatment::Distinct)
        && !list
            .clauses
            .iter()
            .any(|c| matches!(c, FunctionArgumentClause::OrderBy(_)))
}

/// Whole-row arguments of the JSON functions in this select, as structs of their columns.
pub(super) fn rows_as_structs(select: &mut Select) {
    let mut rows: Vec<(Ident, Vec<Ident>)> = Vec::new();
    for t in &select.from {
        for factor in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
            if let TableFactor::Derived {
                subquery,
                alias: Some(alias),
                ..
            } = factor
            {
                let columns = if alias.columns.is_empty() {
                    // A set operation's columns are named by its first select.
                    let mut body = subquery.body.as_ref();
                    while let sqlparser::ast::SetExpr::SetOperation { left, .. } = body {
                        body = left.as_ref();
                    }
                    let sqlparser::ast::SetExpr::Select(inner) = body else {
                        continue;
                    };
                    match output_names(inner) {
                        Some(c) => c,
                        None => continue,
                    }
                } else {
                    alias.columns.iter().map(|c| c.name.clone()).collect()
                };
                // A column of the same name is what the name means (PostgreSQL's rule).
                if !columns.iter().any(|c| c.value == alias.name.value) {
                    rows.push((alias.name.clone(), columns));
                }
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    struct Rows<'a>(&'a [(Ident, Vec<Ident>)]);
    impl VisitorMut for Rows<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            let Expr::Function(f) = e else {
                return ControlFlow::Continue(());
            };
            let name = f.name.to_string().to_ascii_lowercase();
            if !matches!(
                name.as_str(),
                "row_to_json" | "to_json" | "to_jsonb" | "json_agg" | "jsonb_agg"
            ) {
                return ControlFlow::Continue(());
            }
            let FunctionArguments::List(list) = &mut f.args else {
                return ControlFlow::Continue(());
            };
            if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))) = list.args.first_mut() {
                if let Expr::Identifier(id) = arg {
                    if let Some((alias, columns)) = self.0.iter().find(|(a, _)| a.value == id.value)
                    {
                        let mut fields = Vec::new();
                        for c in columns {
                            fields.push(build::string(&c.value));
                            fields.push(Expr::CompoundIdentifier(vec![alias.clone(), c.clone()]));
                        }
                        *arg = build::call("named_struct", fields);
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    for item in select.projection.iter_mut() {
        let _ = item.visit(&mut Rows(&rows));
    }
}

/// The names of a select's columns when each is written out (no `*`).
fn output_names(select: &Select) -> Option<Vec<Ident>> {
    select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.clone()),
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => Some(i.clone()),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(p)) => p.last().cloned(),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let stmt = super::super::parsed(&format!("SELECT {sql}"));
        let sqlparser::ast::Statement::Query(q) = stmt else {
            panic!()
        };
        let sqlparser::ast::SetExpr::Select(s) = *q.body else {
            panic!()
        };
        match &s.projection[0] {
            sqlparser::ast::SelectItem::UnnamedExpr(e) => {
                rewrite(e).map_or_else(|| e.to_string(), |r| r.to_string())
            }
            _ => panic!(),
        }
    }

    #[test]
    fn casts_to_json_types_become_their_functions() {
        assert_eq!(
            rewritten(r#"'{"a":1}'::jsonb"#),
            r#"meshgate_cast_jsonb('{"a":1}')"#
        );
        assert_eq!(rewritten("CAST(t.c AS json)"), "meshgate_cast_json(t.c)");
        assert_eq!(rewritten("jsonb '[1]'"), "meshgate_cast_jsonb('[1]')");
        assert_eq!(rewritten("x::text"), "x::TEXT");
        assert_eq!(
            rewritten("json_agg(DISTINCT x)"),
            "json_agg(DISTINCT x ORDER BY x)"
        );
    }

    #[test]
    fn whole_rows_of_subqueries_become_structs() {
        let mut stmt =
            super::super::parsed("SELECT row_to_json(t) FROM (SELECT 1 AS a, x.b FROM x) t");
        if let sqlparser::ast::Statement::Query(q) = &mut stmt {
            if let sqlparser::ast::SetExpr::Select(s) = q.body.as_mut() {
                rows_as_structs(s);
            }
        }
        assert_eq!(
            stmt.to_string(),
            "SELECT row_to_json(named_struct('a', t.a, 'b', t.b)) FROM (SELECT 1 AS a, x.b FROM x) t"
        );
        let mut stmt = super::super::parsed("SELECT to_json(t) FROM (SELECT 1 AS t) t");
        if let sqlparser::ast::Statement::Query(q) = &mut stmt {
            if let sqlparser::ast::SetExpr::Select(s) = q.body.as_mut() {
                rows_as_structs(s);
            }
        }
        assert_eq!(stmt.to_string(), "SELECT to_json(t) FROM (SELECT 1 AS t) t");
    }
}
