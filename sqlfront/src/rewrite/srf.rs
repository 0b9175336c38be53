//! Set-returning functions in PostgreSQL's places. In a select list, `generate_series(1, 3)`
//! is three rows in PostgreSQL and one array in DataFusion (its scalar `generate_series` builds
//! a list); wrapped in `unnest` it is rows again, and several of them side by side run in
//! lockstep, the shorter padded with NULLs, as PostgreSQL 10 and later do. `string_to_table`
//! (select list or FROM) is `unnest(string_to_array(…))`; the one-column JSON ones
//! (`jsonb_array_elements`, `jsonb_object_keys`…) in a select list unnest an array of their rows.

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName, ObjectNamePart,
    Select, SelectItem, TableFactor, TableFunctionArgs,
};

use crate::build;

/// Wraps the select list's set-returning calls in `unnest`, keeping PostgreSQL's column name.
pub(super) fn in_select_list(select: &mut Select) {
    for item in select.projection.iter_mut() {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
            _ => continue,
        };
        let Some((name, rows)) = as_rows(expr) else {
            continue;
        };
        *item = SelectItem::ExprWithAlias {
            expr: rows,
            alias: alias.unwrap_or_else(|| Ident::new(name)),
        };
    }
}

/// `string_to_table(s, d)` in FROM becomes `unnest(string_to_array(s, d))`, which the
/// dialect rewrite then turns into DataFusion's UNNEST.
pub(super) fn in_from(t: &mut TableFactor) {
    let TableFactor::Table {
        name,
        args: Some(TableFunctionArgs { args, .. }),
        ..
    } = t
    else {
        return;
    };
    if function_name(name).as_deref() != Some("string_to_table") {
        return;
    }
    let inner = build::call("string_to_array", unnamed(args));
    *name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new("unnest"))]);
    *args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(inner))];
}

/// (PostgreSQL's column name, the call as rows) for a set-returning call.
fn as_rows(e: &Expr) -> Option<(&'static str, Expr)> {
    let Expr::Function(f) = e else {
        return None;
    };
    if f.over.is_some() {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let args = unnamed(&list.args);
    match function_name(&f.name).as_deref() {
        Some("generate_series") => Some((
            "generate_series",
            build::call("unnest", vec![build::call("generate_series", args)]),
        )),
        Some("string_to_table") => Some((
            "string_to_table",
            build::call("unnest", vec![build::call("string_to_array", args)]),
        )),
        Some(name) => json_rows(name, args),
        None => None,
    }
}

/// The one-column JSON set-returning functions: their rows come as an array from the
/// functions crate's `meshgate_<name>`; the elements of `json(b)_array_elements` are cast back
/// to their JSON type (the array's elements are plain text).
fn json_rows(name: &str, args: Vec<Expr>) -> Option<(&'static str, Expr)> {
    let (name, cast) = match name {
        "json_array_elements" => ("json_array_elements", Some(super::CAST_JSON)),
        "jsonb_array_elements" => ("jsonb_array_elements", Some(super::CAST_JSONB)),
        "json_array_elements_text" => ("json_array_elements_text", None),
        "jsonb_array_elements_text" => ("jsonb_array_elements_text", None),
        "json_object_keys" => ("json_object_keys", None),
        "jsonb_path_query" => ("jsonb_path_query", Some(super::CAST_JSONB)),
        "jsonb_object_keys" => ("jsonb_object_keys", None),
        _ => return None,
    };
    let rows = build::call(
        "unnest",
        vec![build::call(&format!("meshgate_{name}"), args)],
    );
    Some((
        name,
        match cast {
            Some(cast) => build::call(cast, vec![rows]),
            None => rows,
        },
    ))
}

fn function_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => Some(i.value.to_ascii_lowercase()),
        [ObjectNamePart::Identifier(s), ObjectNamePart::Identifier(i)]
            if s.value.eq_ignore_ascii_case("pg_catalog") =>
        {
            Some(i.value.to_ascii_lowercase())
        }
        _ => None,
    }
}

fn unnamed(args: &[FunctionArg]) -> Vec<Expr> {
    args.iter()
        .filter_map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::ast::{SetExpr, Statement};

    fn rewritten(sql: &str) -> String {
        let mut stmt = super::super::parsed(sql);
        if let Statement::Query(q) = &mut stmt {
            if let SetExpr::Select(s) = q.body.as_mut() {
                in_select_list(s);
                for t in s.from.iter_mut() {
                    in_from(&mut t.relation);
                }
            }
        }
        stmt.to_string()
    }

    #[test]
    fn set_returning_calls_become_rows() {
        assert_eq!(
            rewritten("SELECT generate_series(1, 3), generate_series(1, 2) AS b"),
            "SELECT unnest(generate_series(1, 3)) AS generate_series, unnest(generate_series(1, 2)) AS b"
        );
        assert_eq!(
            rewritten("SELECT jsonb_array_elements(j), json_object_keys(k) FROM t"),
            "SELECT meshgate_cast_jsonb(unnest(meshgate_jsonb_array_elements(j))) AS jsonb_array_elements, \
             unnest(meshgate_json_object_keys(k)) AS json_object_keys FROM t"
        );
        assert_eq!(
            rewritten("SELECT * FROM string_to_table('a,b', ',')"),
            "SELECT * FROM unnest(string_to_array('a,b', ','))"
        );
        // Inside another expression or a window it is left alone.
        assert_eq!(
            rewritten("SELECT 1 + generate_series(1, 3)"),
            "SELECT 1 + generate_series(1, 3)"
        );
    }
}
