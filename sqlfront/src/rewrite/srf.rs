//! Set-returning functions in PostgreSQL's places. In a select list, `generate_series(1, 3)`
//! is three rows in PostgreSQL and one array in DataFusion (its scalar `generate_series` builds
//! a list); wrapped in `unnest` it is rows again, and several of them side by side run in
//! lockstep, the shorter padded with NULLs, as PostgreSQL 10 and later do. The functions crate
//! computes each set as a list (`string_to_table` is `unnest(string_to_array(…))`).
//! The one-column JSON ones (`jsonb_array_elements`, `jsonb_object_keys`…) in a select list
//! unnest an array of their rows.
//!
//! `FROM t a, jsonb_array_elements(a.j) e` (or `generate_series(1, a.n) g`, or `CROSS JOIN
//! LATERAL`) reads a column of `a`, which DataFusion's table functions cannot (they are planned
//! once, before any row). Where that is the whole FROM, `a` becomes
//! `(SELECT a.*, <the rows of the call> AS value FROM t a) a` and the references to `e` are
//! references to that column.

use std::ops::ControlFlow;

use sqlparser::ast::{
    DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, JoinConstraint,
    JoinOperator, ObjectName, ObjectNamePart, OrderByKind, Query, Select, SelectItem, SetExpr,
    TableAlias, TableAliasColumnDef, TableFactor, TableFunctionArgs, TableWithJoins, Visit,
    VisitMut, Visitor, VisitorMut, WildcardAdditionalOptions,
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

/// A set-returning call in FROM becomes `unnest(<its list>)`, which the dialect rewrite turns
/// into DataFusion's UNNEST, named as PostgreSQL names a function's column: by the alias, else
/// by the function. `WITH ORDINALITY` (which DataFusion's UNNEST lacks) becomes a derived table
/// unnesting the list and its positions side by side.
pub(super) fn in_from(t: &mut TableFactor) {
    // `UNNEST(…)` is its own table factor in sqlparser; other functions are tables with
    // arguments.
    if let TableFactor::UNNEST {
        alias: alias_slot,
        array_exprs,
        with_ordinality,
        ..
    } = t
    {
        let [array] = array_exprs.as_slice() else {
            return;
        };
        let alias = named(alias_slot.take(), "unnest", *with_ordinality);
        if *with_ordinality {
            *t = with_positions(array.clone(), alias);
        } else {
            *alias_slot = Some(alias);
        }
        return;
    }
    let TableFactor::Table {
        name,
        args: Some(TableFunctionArgs { args, .. }),
        alias: alias_slot,
        with_ordinality,
        ..
    } = t
    else {
        return;
    };
    let Some(function) = function_name(name) else {
        return;
    };
    let given = unnamed(args);
    if function == "generate_series" && !*with_ordinality {
        if let Some(int) = integer_type(&given) {
            let alias = named(alias_slot.take(), "generate_series", false);
            *t = streamed_integers(t.clone(), int, alias);
            return;
        }
    }
    let (column, list) = match (function.as_str(), given.as_slice()) {
        ("unnest", [one]) => ("unnest", one.clone()),
        ("unnest", _) => return,
        _ => match as_list(&function, given) {
            Some(found) => found,
            None => return,
        },
    };
    let alias = named(alias_slot.take(), column, *with_ordinality);
    if *with_ordinality {
        *t = with_positions(list, alias);
        return;
    }
    *name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new("unnest"))]);
    *args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(list))];
    *alias_slot = Some(alias);
}

/// The integer type of a series whose bounds and step are integer constants or integer casts
/// (`integer` when they all are, as PostgreSQL resolves it), None for any other argument.
fn integer_type(args: &[Expr]) -> Option<DataType> {
    fn width(e: &Expr) -> Option<bool> {
        match e {
            Expr::Value(v) => match &v.value {
                sqlparser::ast::Value::Number(n, _) => {
                    let n: i64 = n.parse().ok()?;
                    Some(i32::try_from(n).is_err())
                }
                _ => None,
            },
            Expr::UnaryOp {
                op: sqlparser::ast::UnaryOperator::Minus | sqlparser::ast::UnaryOperator::Plus,
                expr,
            }
            | Expr::Nested(expr) => width(expr),
            Expr::Cast { data_type, .. } => match data_type {
                DataType::Int(_)
                | DataType::Integer(_)
                | DataType::Int4(_)
                | DataType::SmallInt(_)
                | DataType::Int2(_) => Some(false),
                DataType::BigInt(_) | DataType::Int8(_) => Some(true),
                _ => None,
            },
            _ => None,
        }
    }
    let mut wide = false;
    for a in args {
        wide |= width(a)?;
    }
    Some(if wide {
        DataType::BigInt(None)
    } else {
        DataType::Int(None)
    })
}

/// An integer series streams from the engine's own `generate_series` table function (an
/// endless series can run until it is cancelled, as in PostgreSQL), renamed and cast to
/// PostgreSQL's column name and type: `(SELECT CAST(value AS int) FROM generate_series(…))`.
fn streamed_integers(mut call: TableFactor, int: DataType, alias: TableAlias) -> TableFactor {
    // The functions crate registers the engine's table function under this name
    // (meshgate_functions::STREAMED_SERIES); a name of its own also keeps this rewrite from
    // visiting the call again.
    if let TableFactor::Table { name, .. } = &mut call {
        *name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(
            "meshgate_generate_series",
        ))]);
    }
    let value = build::cast(Expr::Identifier(Ident::new("value")), int);
    let rows = build::select(
        vec![build::item(value)],
        vec![sqlparser::ast::TableWithJoins {
            relation: call,
            joins: vec![],
        }],
        None,
    );
    rows_as(rows, alias)
}

/// The alias of a function's rows as PostgreSQL names them: the given alias (else the
/// function's name) names the table and, when no column names are given, the column too; the
/// position column of `WITH ORDINALITY` is `ordinality` unless named.
fn named(given: Option<TableAlias>, function: &str, with_ordinality: bool) -> TableAlias {
    let mut alias = given.unwrap_or_else(|| TableAlias {
        explicit: true,
        name: Ident::new(function),
        columns: vec![],
    });
    if alias.columns.is_empty() {
        alias
            .columns
            .push(TableAliasColumnDef::from_name(alias.name.value.clone()));
    }
    if with_ordinality && alias.columns.len() < 2 {
        alias
            .columns
            .push(TableAliasColumnDef::from_name("ordinality"));
    }
    alias
}

/// `(SELECT unnest(l), unnest(generate_series(1, cardinality(l))))`: both unnests run in
/// lockstep. The list is written twice (a derived table holding it once would be a select list
/// with a set-returning call, which this rewrite would turn into rows); the set-returning
/// functions are deterministic, so both give the same list.
fn with_positions(list: Expr, alias: TableAlias) -> TableFactor {
    let positions = build::call(
        "generate_series",
        vec![
            build::cast(build::number(1), DataType::BigInt(None)),
            build::cast(
                build::call("cardinality", vec![list.clone()]),
                DataType::BigInt(None),
            ),
        ],
    );
    let rows = build::select(
        vec![
            build::item(build::call("unnest", vec![list])),
            build::item(build::call("unnest", vec![positions])),
        ],
        vec![],
        None,
    );
    rows_as(rows, alias)
}

/// `FROM t a, jsonb_array_elements(a.j) e` as described in the module's comment.
pub(super) fn lateral_json_rows(q: &mut Query) {
    let SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    let Some((base, columns, alias)) = lateral_call(select) else {
        return;
    };
    let qualifier = match &base {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => {
            a.name.clone()
        }
        TableFactor::Table { name, .. } => match name.0.last() {
            Some(ObjectNamePart::Identifier(i)) => i.clone(),
            _ => return,
        },
        _ => return,
    };
    // The base answers to its qualifier inside the new subquery whatever its name has become.
    let mut base = base;
    if let TableFactor::Table {
        alias: a @ None, ..
    } = &mut base
    {
        *a = Some(sqlparser::ast::TableAlias {
            explicit: true,
            name: qualifier.clone(),
            columns: vec![],
        });
    }
    let mut projection = vec![SelectItem::QualifiedWildcard(
        sqlparser::ast::SelectItemQualifiedWildcardKind::ObjectName(ObjectName(vec![
            ObjectNamePart::Identifier(qualifier.clone()),
        ])),
        WildcardAdditionalOptions::default(),
    )];
    projection.extend(
        columns
            .iter()
            .map(|(alias, expr)| SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: alias.clone(),
            }),
    );
    // A bare `e` is the value of a one-column function (a record otherwise: left to fail).
    let column = match columns.as_slice() {
        [(c, _)] => Some(c.clone()),
        _ => None,
    };
    let rows = build::select(
        projection,
        vec![TableWithJoins {
            relation: base,
            joins: vec![],
        }],
        None,
    );
    select.from = vec![build::derived(rows, &qualifier.value, &[])];
    if let TableFactor::Derived { alias: Some(a), .. } = &mut select.from[0].relation {
        a.name = qualifier.clone();
    }
    // `e.value` and a bare `e` are now the column of `a`.
    struct Rename<'a> {
        alias: &'a Ident,
        qualifier: &'a Ident,
        column: Option<&'a Ident>,
    }
    impl VisitorMut for Rename<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            match e {
                Expr::CompoundIdentifier(parts)
                    if parts.len() == 2 && parts[0].value == self.alias.value =>
                {
                    parts[0] = self.qualifier.clone();
                }
                Expr::Identifier(i) if i.value == self.alias.value => {
                    if let Some(column) = self.column {
                        *e = Expr::CompoundIdentifier(vec![self.qualifier.clone(), column.clone()]);
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut rename = Rename {
        alias: &alias,
        qualifier: &qualifier,
        column: column.as_ref(),
    };
    let _ = VisitMut::visit(&mut select.projection, &mut rename);
    let _ = VisitMut::visit(&mut select.selection, &mut rename);
    let _ = VisitMut::visit(&mut select.group_by, &mut rename);
    let _ = VisitMut::visit(&mut select.having, &mut rename);
    if let Some(order_by) = &mut q.order_by {
        if let OrderByKind::Expressions(exprs) = &mut order_by.kind {
            let _ = VisitMut::visit(exprs, &mut rename);
        }
    }
}

/// The FROM `base, F(args) alias` (or `base CROSS JOIN LATERAL F(args) alias`) where F is a
/// set-returning function whose arguments read columns: (base, each column's name and
/// rows, the call's alias).
type Lateral = (TableFactor, Vec<(Ident, Expr)>, Ident);

fn lateral_call(select: &mut Select) -> Option<Lateral> {
    let (base, factor) = match select.from.as_slice() {
        [a, b] if a.joins.is_empty() && b.joins.is_empty() => (&a.relation, &b.relation),
        [a] if a.joins.len() == 1
            && matches!(
                &a.joins[0].join_operator,
                JoinOperator::CrossJoin(_)
                    | JoinOperator::Join(JoinConstraint::On(Expr::Value(_)))
                    | JoinOperator::Inner(JoinConstraint::On(Expr::Value(_)))
            ) =>
        {
            (&a.relation, &a.joins[0].relation)
        }
        _ => return None,
    };
    if !matches!(
        base,
        TableFactor::Table { args: None, .. } | TableFactor::Derived { .. }
    ) {
        return None;
    }
    let (name, args, alias) = match factor {
        TableFactor::Table {
            name,
            args: Some(TableFunctionArgs { args, .. }),
            alias,
            ..
        } => (name, args, alias),
        TableFactor::Function {
            name, args, alias, ..
        } => (name, args, alias),
        _ => return None,
    };
    let args = unnamed(args);
    if !reads_columns(&args) {
        return None;
    }
    let function = function_name(name)?;
    let alias = alias.as_ref()?;
    let named = |i: usize, default: &str| {
        alias
            .columns
            .get(i)
            .map_or_else(|| Ident::new(default), |c| c.name.clone())
    };
    let columns = match each_rows(&function, &args) {
        Some((keys, values)) => vec![(named(0, "key"), keys), (named(1, "value"), values)],
        // `generate_series(1, a.n) g`: one column, named by the alias as PostgreSQL names a
        // scalar function's rows.
        None if as_list(&function, args.clone()).is_some() => {
            let (_, list) = as_list(&function, args)?;
            vec![(
                named(0, &alias.name.value),
                build::call("unnest", vec![list]),
            )]
        }
        None => {
            let (default, rows) = json_rows(&function, args)?;
            let default = if default.ends_with("object_keys") {
                default
            } else {
                "value"
            };
            vec![(named(0, default), rows)]
        }
    };
    Some((base.clone(), columns, alias.name.clone()))
}

/// `json(b)_each(_text)(j)` as two arrays unnested side by side: its keys (those of
/// `json(b)_object_keys`) and its values.
fn each_rows(function: &str, args: &[Expr]) -> Option<(Expr, Expr)> {
    let (keys, cast) = match function {
        "json_each" => ("meshgate_json_object_keys", Some(super::CAST_JSON)),
        "jsonb_each" => ("meshgate_jsonb_object_keys", Some(super::CAST_JSONB)),
        "json_each_text" => ("meshgate_json_object_keys", None),
        "jsonb_each_text" => ("meshgate_jsonb_object_keys", None),
        _ => return None,
    };
    let unnest = |f: &str| build::call("unnest", vec![build::call(f, args.to_vec())]);
    let values = unnest(&format!("meshgate_{function}"));
    Some((
        unnest(keys),
        match cast {
            Some(cast) => build::call(cast, vec![values]),
            None => values,
        },
    ))
}

/// Whether the expressions name a column (a constant call stays a table function).
fn reads_columns(args: &[Expr]) -> bool {
    struct Columns(bool);
    impl Visitor for Columns {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                self.0 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut c = Columns(false);
    for a in args {
        let _ = Visit::visit(a, &mut c);
    }
    c.0
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
    let name = function_name(&f.name)?;
    let args = unnamed(&list.args);
    match as_list(&name, args.clone()) {
        Some((column, list)) => Some((column, build::call("unnest", vec![list]))),
        None => json_rows(&name, args),
    }
}

/// A set-returning function's rows as one list (the functions crate computes sets as lists),
/// with the column name PostgreSQL gives the function's rows.
fn as_list(function: &str, args: Vec<Expr>) -> Option<(&'static str, Expr)> {
    let (column, list) = match function {
        "generate_series" => ("generate_series", "generate_series"),
        "generate_subscripts" => ("generate_subscripts", "generate_subscripts"),
        "regexp_matches" => ("regexp_matches", "regexp_matches"),
        "string_to_table" => ("string_to_table", "string_to_array"),
        "regexp_split_to_table" => ("regexp_split_to_table", "regexp_split_to_array"),
        _ => return None,
    };
    Some((column, build::call(list, args)))
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

fn rows_as(rows: sqlparser::ast::Query, alias: TableAlias) -> TableFactor {
    TableFactor::Derived {
        lateral: false,
        subquery: Box::new(rows),
        alias: Some(alias),
        sample: None,
    }
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
            rewritten("SELECT * FROM string_to_table('a,b', ',')"),
            "SELECT * FROM unnest(string_to_array('a,b', ',')) AS string_to_table (string_to_table)"
        );
        // Inside another expression or a window it is left alone.
        assert_eq!(
            rewritten("SELECT 1 + generate_series(1, 3)"),
            "SELECT 1 + generate_series(1, 3)"
        );
    }
}
